"""Migration 0010: the attributions table and the deliveries' rule as the models declare them,
and a delivery scheduled before it credited by the default rule (received, five days)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from models import migrate
from models.db import get_engine
from tests.support.migrations import schema_differences

AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_the_migration_builds_attributions_as_the_model_declares(database_url: str) -> None:
    assert schema_differences(database_url, "attribution") == []


def test_a_delivery_scheduled_before_the_upgrade_takes_the_default_rule(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0013_loyalty")
    with get_engine(empty_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, email, accepts_marketing, created_at, orders_count,"
                " total_spent, average_order_value) VALUES (1, 'a@example.com', true, :at, 0, 0, 0)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO events (id, source, source_event_id, type, occurred_at, received_at,"
                " payload, status, attempts, customer_id)"
                " VALUES (1, 'api', 'e-1', 'order.placed', :at, :at, '{}', 'processed', 0, 1)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, dedupe_key, trigger, message, customer_id,"
                " cause_event_id, status, send_at, created_at, attempts)"
                " VALUES (1, 'k-1', 'thank-you', 'thank_you', 1, 1, 'scheduled', :at, :at, 0)"
            ),
            {"at": AT},
        )

    migrate.upgrade(empty_url)

    with get_engine(empty_url).connect() as conn:
        row = conn.execute(text("SELECT attribution, attribution_window_s FROM deliveries")).one()
    assert tuple(row) == ("received", 5 * 86400)


def test_the_migration_builds_the_ladder_as_the_models_declare(database_url: str) -> None:
    assert schema_differences(database_url, "rung") == []
    assert schema_differences(database_url, "ladder_moves") == []


def test_a_customer_from_before_the_ladder_is_unplaced_with_no_history(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0014_measurement")
    with get_engine(empty_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, email, accepts_marketing, created_at, orders_count,"
                " total_spent, average_order_value) VALUES (1, 'a@example.com', true, :at, 0, 0, 0)"
            ),
            {"at": AT},
        )

    migrate.upgrade(empty_url)

    with get_engine(empty_url).connect() as conn:
        row = conn.execute(text("SELECT rung, previous_rung, rung_version FROM customers")).one()
        moves = conn.execute(text("SELECT COUNT(*) FROM ladder_moves")).scalar_one()
    assert (tuple(row), moves) == ((None, None, 0), 0)
