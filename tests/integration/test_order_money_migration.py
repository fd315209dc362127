"""Migration 0008: orders' shop-currency totals and refunds as the models declare them, and the
orders recorded before it counted as they were."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from models import migrate
from models.db import get_engine
from tests.support import services

PLACED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet, to migrate step by step."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ladder.db'}"
        yield url
        get_engine(url).dispose()
        return
    with services.scratch_database(request.getfixturevalue("postgres_server")) as url:
        yield url
        get_engine(url).dispose()


def test_the_migration_builds_orders_and_refunds_as_the_models_declare(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert [diff for diff in differences if "order" in str(diff)] == []


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
