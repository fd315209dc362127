"""Migration 0008: orders' shop-currency totals and refunds as the models declare them, and the
orders recorded before it counted as they were."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from models import migrate
from models.db import get_engine
from tests.support.migrations import schema_differences

PLACED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_the_migration_builds_orders_and_refunds_as_the_models_declare(database_url: str) -> None:
    assert schema_differences(database_url, "order") == []


def test_orders_recorded_before_keep_what_they_counted(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0007_requested_at")
    with get_engine(empty_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, email, accepts_marketing, created_at, orders_count,"
                " total_spent, average_order_value) VALUES (1, 'a@example.com', true, :at, 1,"
                " 4590, 4590)"
            ),
            {"at": PLACED},
        )
        for order_id, status in ((1, "paid"), (2, "refunded")):
            conn.execute(
                text(
                    "INSERT INTO orders (id, source, source_order_id, customer_id, status, total,"
                    " currency, placed_at) VALUES (:id, 'api', :id_text, 1, :status, 4590, 'EUR',"
                    " :at)"
                ),
                {"id": order_id, "id_text": str(order_id), "status": status, "at": PLACED},
            )

    migrate.upgrade(empty_url)

    with get_engine(empty_url).connect() as conn:
        rows = conn.execute(
            text("SELECT id, shop_total, refunded, shop_refunded FROM orders ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [(1, 4590, 0, 0), (2, 4590, 4590, 4590)]
