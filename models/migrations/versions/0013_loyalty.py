"""the loyalty ledger (append-only, one row per cause) and each member's balances and tier

Revision ID: 0013_loyalty
Revises: 0012_broadcasts
Create Date: 2026-12-02 19:50:00

A member's `points` and `pending` are the sums of their entries, kept so in the transaction
that appends each entry; `tier_version` numbers their tier changes (the events' ids).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision: str = "0013_loyalty"
down_revision: str | None = "0012_broadcasts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loyalty_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("cause"),
    )
    op.create_index("ix_loyalty_entries_customer_id", "loyalty_entries", ["customer_id"])
    op.create_index("ix_loyalty_entries_order_id", "loyalty_entries", ["order_id"])
    op.create_table(
        "loyalty_members",
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("tier_version", sa.Integer(), nullable=False),
        sa.Column("tier_since", UTCDateTime(), nullable=True),
        sa.Column("below_since", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("loyalty_members")
    op.drop_index("ix_loyalty_entries_order_id", table_name="loyalty_entries")
    op.drop_index("ix_loyalty_entries_customer_id", table_name="loyalty_entries")
    op.drop_table("loyalty_entries")
