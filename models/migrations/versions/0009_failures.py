"""a delivery's transient provider errors, counted on its row (its retries live in the database)

Revision ID: 0009_failures
Revises: 0008_order_money
Create Date: 2026-12-03 12:00:00

Retries used to be Dramatiq's, counted in the message a worker held in memory; a worker killed
holding it left the row waiting for the relay. Now the row counts them and waits `scheduled`
with its `send_at` moved by the back-off. Rows already waiting start at zero.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_failures"
down_revision: str | None = "0008_order_money"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("failures")
