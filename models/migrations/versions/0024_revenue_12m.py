"""each customer's revenue of the last 365 days kept as a fact; the daily refresh's rows
rewritten in place

Revision ID: 0024_revenue_12m
Revises: 0023_studio_people
Create Date: 2026-12-07 23:00:00

The ladder's `revenue_12m` bounds read it instead of summing each customer's orders in the
daily refresh (20 s of a million customers' refresh went there). `revenue_12m_oldest_at` is the
placing time of the oldest order it counts: once that order is a year old, the refresh sums
the customer's orders again. Filled here as of the upgrade.

The segment index goes: a segment is an eighth of the customers or more, read by a scan, and
while it was indexed each customer the daily refresh moved was a new row version in every
index of the table. On PostgreSQL the table keeps a tenth of each page free (fillfactor 90, for
pages written from now on), so such a rewrite can stay on its page with no index touched.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0024_revenue_12m"
down_revision: str | None = "0023_studio_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Orders that do not count (models.orders.UNCOUNTED_STATUSES as of this revision).
UNCOUNTED = ("cancelled", "refunded")


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_segment")
        batch_op.add_column(
            sa.Column("revenue_12m", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("revenue_12m_oldest_at", models.types.UTCDateTime(), nullable=True)
        )
        batch_op.create_index("ix_customers_revenue_12m_oldest_at", ["revenue_12m_oldest_at"])
    customers = sa.table(
        "customers",
        sa.column("id", sa.Integer()),
        sa.column("revenue_12m", sa.Integer()),
        sa.column("revenue_12m_oldest_at", models.types.UTCDateTime()),
    )
    orders = sa.table(
        "orders",
        sa.column("customer_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("placed_at", models.types.UTCDateTime()),
        sa.column("shop_total", sa.Integer()),
        sa.column("shop_refunded", sa.Integer()),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers SET (fillfactor = 90)")
    since = datetime.now(UTC) - timedelta(days=365)
    o = orders.c

    def of_the_year(expression: sa.ColumnElement[object]) -> sa.ScalarSelect[object]:
        return (
            sa.select(expression)
            .where(
                o.customer_id == customers.c.id,
                o.status.not_in(UNCOUNTED),
                o.placed_at > sa.literal(since, models.types.UTCDateTime()),
            )
            .scalar_subquery()
        )

    op.execute(
        customers.update().values(
            revenue_12m=sa.func.coalesce(
                of_the_year(sa.func.sum(o.shop_total - o.shop_refunded)), 0
            ),
            revenue_12m_oldest_at=of_the_year(sa.func.min(o.placed_at)),
        )
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers RESET (fillfactor)")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_segment", ["segment"], unique=False)
        batch_op.drop_index("ix_customers_revenue_12m_oldest_at")
        batch_op.drop_column("revenue_12m_oldest_at")
        batch_op.drop_column("revenue_12m")
