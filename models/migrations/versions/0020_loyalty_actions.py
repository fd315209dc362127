"""sweepstakes: one entry row per qualifying action, one draw row per sweepstake with its seed
and winners; action points, refusals and donations are ledger entries (kinds only, no schema)

Revision ID: 0020_loyalty_actions
Revises: 0018_rewards
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.types import UTCDateTime

revision: str = "0020_loyalty_actions"
down_revision: str | None = "0018_rewards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "loyalty_sweepstake_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sweepstake", Text(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("cause", Text(length=300), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("cause"),
    )
    op.create_index(
        "ix_loyalty_sweepstake_entries_sweepstake", "loyalty_sweepstake_entries", ["sweepstake"]
    )
    op.create_index(
        "ix_loyalty_sweepstake_entries_customer_id", "loyalty_sweepstake_entries", ["customer_id"]
    )
    op.create_table(
        "loyalty_sweepstake_draws",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sweepstake", Text(length=64), nullable=False),
        sa.Column("draw_at", UTCDateTime(), nullable=False),
        sa.Column("drawn_at", UTCDateTime(), nullable=False),
        sa.Column("seed", Text(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("winners", sa.JSON(), nullable=False),
        sa.UniqueConstraint("sweepstake"),
    )


def downgrade() -> None:
    op.drop_table("loyalty_sweepstake_draws")
    op.drop_index(
        "ix_loyalty_sweepstake_entries_customer_id", table_name="loyalty_sweepstake_entries"
    )
    op.drop_index(
        "ix_loyalty_sweepstake_entries_sweepstake", table_name="loyalty_sweepstake_entries"
    )
    op.drop_table("loyalty_sweepstake_entries")
