"""paid memberships (a Stripe subscription per customer: plan, status, period), and a reward's
own amount (a membership's dividend)

Revision ID: 0021_memberships
Revises: 0020_loyalty_actions
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.types import UTCDateTime

revision: str = "0021_memberships"
down_revision: str | None = "0020_loyalty_actions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "loyalty_memberships",
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("subscription_id", Text(length=255), nullable=True),
        sa.Column("plan", Text(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.Column("renews", sa.Boolean(), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=True),
        sa.Column("period_end", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_loyalty_memberships_period_end", "loyalty_memberships", ["period_end"])
    with op.batch_alter_table("loyalty_rewards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_minor", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_rewards", schema=None) as batch_op:
        batch_op.drop_column("value_minor")
    op.drop_index("ix_loyalty_memberships_period_end", table_name="loyalty_memberships")
    op.drop_table("loyalty_memberships")
