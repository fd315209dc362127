"""a periodic job asked for ahead of its time, once the work handed over before it is done

Revision ID: 0010_job_requests
Revises: 0009_failures
Create Date: 2026-12-04 12:00:00

`ladder import` with a worker fleet hands its events to the workers; the segment refresh that
must follow them was left to the next day's run. The import now asks for it: the clock runs it
as soon as no event received before the request is still pending.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision: str = "0010_job_requests"
down_revision: str | None = "0009_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_column("requested_at")
