"""Migration 0024: each customer's year's revenue as the models declare it, worked out for the
customers and orders recorded before it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from models import migrate
from models.db import get_engine
from models.types import UTCDateTime
from tests.support.migrations import schema_differences

CUSTOMERS = sa.table(
    "customers",
    sa.column("id", sa.Integer()),
    sa.column("email", sa.String()),
    sa.column("accepts_marketing", sa.Boolean()),
    sa.column("created_at", UTCDateTime()),
    *(sa.column(name, sa.Integer()) for name in ("orders_count", "total_spent")),
    sa.column("average_order_value", sa.Integer()),
)
ORDERS = sa.table(
    "orders",
    *(sa.column(name, sa.Integer()) for name in ("id", "customer_id", "total", "shop_total")),
    *(sa.column(name, sa.Integer()) for name in ("refunded", "shop_refunded")),
    *(sa.column(name, sa.String()) for name in ("source", "source_order_id", "status", "currency")),
    sa.column("placed_at", UTCDateTime()),
)


def test_the_migration_builds_the_year_s_revenue_as_declared(database_url: str) -> None:
    assert schema_differences(database_url, "revenue_12m") == []
    assert schema_differences(database_url, "ix_customers_segment") == []  # gone


def test_customers_recorded_before_have_their_year_worked_out(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0023_studio_people")
    now = datetime.now(UTC)
    placed = [  # (days ago, status, total, refunded)
        (400, "paid", 9000, 0),  # more than a year ago
        (200, "paid", 3000, 1000),
        (100, "refunded", 5000, 5000),  # does not count
        (20, "fulfilled", 2500, 0),
    ]
    with get_engine(empty_url).begin() as conn:
        facts = {"orders_count": 0, "total_spent": 0, "average_order_value": 0}
        conn.execute(sa.insert(CUSTOMERS), [
            {"id": n, "email": email, "accepts_marketing": True, "created_at": now, **facts}
            for n, email in ((1, "ana@example.com"), (2, "bo@example.com"))
        ])  # fmt: skip
        conn.execute(sa.insert(ORDERS), [
            {"id": n, "customer_id": 1, "total": total, "shop_total": total, "refunded": refunded,
             "shop_refunded": refunded, "source": "api", "source_order_id": str(n),
             "status": status, "currency": "EUR", "placed_at": now - timedelta(days=ago)}
            for n, (ago, status, total, refunded) in enumerate(placed, start=1)
        ])  # fmt: skip

    migrate.upgrade(empty_url)

    with get_engine(empty_url).connect() as conn:
        rows: Sequence[Any] = conn.execute(
            sa.select(
                sa.column("id"), sa.column("revenue_12m"),
                sa.column("revenue_12m_oldest_at", UTCDateTime()),
            ).select_from(sa.table("customers")).order_by(sa.column("id"))
        ).all()  # fmt: skip
    assert [(row.id, row.revenue_12m) for row in rows] == [(1, 4500), (2, 0)]
    assert rows[0].revenue_12m_oldest_at == now - timedelta(days=200)
    assert rows[1].revenue_12m_oldest_at is None


def test_the_migration_goes_down_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    command.downgrade(migrate.alembic_config(empty_url), "0023_studio_people")
    assert schema_differences(empty_url, "revenue_12m") != []
    assert schema_differences(empty_url, "ix_customers_segment") != []  # back
    migrate.upgrade(empty_url)
    assert schema_differences(empty_url, "revenue_12m") == []
    assert schema_differences(empty_url, "ix_customers_segment") == []
