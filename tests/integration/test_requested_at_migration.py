"""Migration 0007: `deliveries.requested_at` as the model declares it, and a claim left
`sending` across the upgrade still counted as one whose request may have left."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from models import migrate
from models.db import get_engine
from tests.support.migrations import schema_differences

CLAIMED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_the_migration_builds_requested_at_as_the_model_declares(database_url: str) -> None:
    assert schema_differences(database_url, "deliveries") == []


def test_a_claim_left_sending_across_the_upgrade_counts_as_maybe_requested(
    empty_url: str,
) -> None:
    migrate.upgrade(empty_url, "0006_privacy")
    with get_engine(empty_url).begin() as conn:
        at = {"at": CLAIMED}
        conn.execute(
            text(
                "INSERT INTO customers (id, email, accepts_marketing, created_at, orders_count,"
                " total_spent, average_order_value) VALUES (1, 'a@example.com', true, :at, 0, 0, 0)"
            ),
            at,
        )
        conn.execute(
            text(
                "INSERT INTO events (id, source, source_event_id, type, occurred_at, received_at,"
                " payload, status, attempts, customer_id)"
                " VALUES (1, 'api', 'e-1', 'order.placed', :at, :at, '{}', 'processed', 0, 1)"
            ),
            at,
        )
        for delivery_id, status in ((1, "sending"), (2, "scheduled")):
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, dedupe_key, trigger, message, customer_id,"
                    " cause_event_id, status, send_at, created_at, attempts, claimed_at)"
                    " VALUES (:id, :key, 'thank-you', 'thank_you', 1, 1, :status, :at, :at, 1,"
                    " :claimed)"
                ),
                {
                    "id": delivery_id,
                    "key": f"k-{delivery_id}",
                    "status": status,
                    **at,
                    "claimed": CLAIMED if status == "sending" else None,
                },
            )

    migrate.upgrade(empty_url)

    with get_engine(empty_url).connect() as conn:
        rows = conn.execute(text("SELECT id, requested_at FROM deliveries ORDER BY id")).all()
    stamped = {row.id: row.requested_at for row in rows}
    assert stamped[2] is None
    assert stamped[1] is not None
    assert str(stamped[1])[:19] == "2026-05-01 10:00:00"
