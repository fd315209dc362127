"""when a delivery's request to the provider may have left (a stale claim is resent without it)

Revision ID: 0007_requested_at
Revises: 0006_privacy
Create Date: 2026-12-03 10:00:00

A claim left `sending` across the upgrade may have reached the provider (nothing recorded
whether it did): it gets its claim time as its request time, so the clock treats it as before,
"outcome unknown", and never resends it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision: str = "0007_requested_at"
down_revision: str | None = "0006_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE deliveries SET requested_at = claimed_at WHERE status = 'sending'")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("requested_at")
