"""orders in the shop's currency and net of their refunds; each refund recorded once

Revision ID: 0008_order_money
Revises: 0007_requested_at
Create Date: 2026-12-03 16:40:00

Orders recorded before this revision keep what the facts summed until then: `shop_total =
total`, and a refunded one refunded in full. The facts are net of `shop_refunded`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0008_order_money"
down_revision: str | None = "0007_requested_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop_total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("refunded", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("shop_refunded", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute("UPDATE orders SET shop_total = total")
    # A refunded order was counted as refunded in full: it stays so.
    op.execute(
        "UPDATE orders SET refunded = total, shop_refunded = total WHERE status = 'refunded'"
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("shop_total", existing_type=sa.Integer(), nullable=False)
    op.create_table(
        "order_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("refund_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("refunded_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "refund_key"),
    )


def downgrade() -> None:
    op.drop_table("order_refunds")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("shop_refunded")
        batch_op.drop_column("refunded")
        batch_op.drop_column("shop_total")
