"""Migration 0025: the orders' (customer_id, placed_at) index as the models declare it, carrying
on PostgreSQL the columns the reports sum, and back."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from models import migrate
from models.db import get_engine
from tests.support.migrations import schema_differences

NAME = "ix_orders_customer_placed"


def included(url: str) -> str | None:
    """The new index's definition on PostgreSQL; None on SQLite."""
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                {"n": f"{NAME}_net"},
            ).scalar_one()
        )


def test_the_migration_builds_the_index_as_declared(database_url: str) -> None:
    assert schema_differences(database_url, NAME) == []
    definition = included(database_url)
    if definition is not None:
        assert definition.endswith(
            "(customer_id, placed_at) INCLUDE (status, shop_total, shop_refunded)"
        )


def test_the_migration_goes_down_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    command.downgrade(migrate.alembic_config(empty_url), "0024_revenue_12m")
    assert schema_differences(empty_url, NAME) != []
    migrate.upgrade(empty_url)
    assert schema_differences(empty_url, NAME) == []
