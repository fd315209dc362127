"""One bad event or webhook among good ones, through a real broker (Redis, RabbitMQ) and
worker: the good ones are processed, the bad one is failed with its reason and its try counted,
and nothing is retried forever (the queues drain: before, the batch rolled back and came back
again and again, and the good events in it never got their emails)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from models import Delivery, Event, EventStatus, InboxItem
from models.tables import EVENTS
from tests.support.brokers import drain
from tests.support.factories import order_event
from tests.support.web import TestClient
from tests.support.webhooks import rows, shopify_headers, shopify_payload, with_secrets, woo_headers
from worker import current_time
from worker.queue.dispatch import ingest
from worker.runtime import Runtime
from worker.web import create_app

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def refusing_poison(db: Session, database_url: str) -> Iterator[None]:
    """The database refuses a customer called "Poison": a stand-in for any value the checks at
    the door did not foresee. Dropped after (these tests commit)."""
    if database_url.startswith("sqlite"):
        db.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON customers WHEN NEW.first_name = "
                "'Poison' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    else:
        db.execute(
            text(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.first_name = 'Poison' THEN RAISE EXCEPTION 'refused' USING "
                "ERRCODE = '22000'; END IF; RETURN NEW; END $$"
            )
        )
        db.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON customers FOR EACH ROW "
                "EXECUTE FUNCTION refuse_poison()"
            )
        )
    db.commit()
    yield
    db.rollback()
    db.execute(
        text("DROP TRIGGER refuse_poison" + ("" if "sqlite" in database_url else " ON customers"))
    )
    if not database_url.startswith("sqlite"):
        db.execute(text("DROP FUNCTION refuse_poison()"))
    db.commit()


def stored_as(db: Session, event_id: int, **changes: Any) -> None:
    """Rewrites a stored event's payload as a version that checked less might have stored it."""
    payload = dict(db.get_one(Event, event_id).payload)
    payload["customer"] = {**payload["customer"], **changes}
    db.execute(update(EVENTS).where(EVENTS.c.id == event_id).values(payload=payload))
    db.commit()


def test_bad_events_in_a_batch_fail_alone_and_the_good_ones_are_processed_by_a_worker(
    db: Session,
    runtime: Runtime,
    server_broker: dramatiq.Broker,
    refusing_poison: None,  # noqa: ARG001
) -> None:
    current_time.freeze(T0)
    events = [
        order_event(event_id=f"ord-{n}", order_id=str(n), at=T0, email=f"c{n}@example.com")
        for n in range(6)
    ]
    events[4] = order_event(
        event_id="ord-4", order_id="4", at=T0, email="c4@example.com", first_name="Poison"
    )
    ids = ingest(db, events, now=T0).stored  # one process_batch message for all six
    # Stored before the door refused them: a NUL (PostgreSQL's text cannot hold it) and a lone
    # surrogate (no UTF-8 for it).
    stored_as(db, ids[1], first_name="Ana\u0000")
    stored_as(db, ids[3], last_name="\ud800")

    drain(server_broker, ("events",))  # before: QueueJoinTimeout, the batch retried and retried

    found = {row.id: row for row in rows(db, select(Event).order_by(col(Event.id)))}
    assert [found[i].status for i in ids] == [
        EventStatus.PROCESSED,
        EventStatus.FAILED,
        EventStatus.PROCESSED,
        EventStatus.FAILED,
        EventStatus.FAILED,
        EventStatus.PROCESSED,
    ]
    assert [found[i].attempts for i in (ids[1], ids[3], ids[4])] == [1, 1, 1]
    assert "customer.first_name: Value error, holds a NUL character" in str(found[ids[1]].error)
    assert "customer.last_name: Input should be a valid string" in str(found[ids[3]].error)
    kind = "IntegrityError" if "sqlite" in runtime.settings.database_url else "DataException"
    assert found[ids[4]].error == f"the database refused a value ({kind}); no retry can help"
    thank_yous = rows(db, select(Delivery).where(col(Delivery.trigger) == "thank-you"))
    assert sorted(d.cause_event_id for d in thank_yous) == [ids[0], ids[2], ids[5]]
    assert all(d.send_at == T0 + timedelta(hours=2) for d in thank_yous)


@pytest.mark.usefixtures("usd_shop")  # the Shopify sample is a dollar shop's order
def test_an_unreadable_webhook_is_failed_with_its_try_counted_and_the_others_are_processed(
    db: Session, runtime: Runtime, server_broker: dramatiq.Broker
) -> None:
    current_time.freeze(T0)
    deep = (
        json.dumps({"id": 5, "note_attributes": [1]})
        .encode()
        .replace(b"[1]", b"[" * 50_000 + b"]" * 50_000)
    )
    good = json.dumps(shopify_payload("orders/create")).encode()
    woo_nan = b'{"id": 7, "date_modified_gmt": "2026-05-01T10:00:00", "total": NaN}'
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        answers = [
            client.post(
                "/webhooks/shopify",
                content=body,
                headers=shopify_headers(topic, body, webhook_id=key),
            ).status_code
            for key, topic, body in [
                ("w-deep", "orders/create", deep),
                ("w-good", "orders/create", good),
            ]
        ]
        refused = client.post(
            "/webhooks/woocommerce", content=woo_nan, headers=woo_headers("order.updated", woo_nan)
        )
    # Shopify's body is kept unread at the door (its key is a header); WooCommerce's is read.
    assert answers == [200, 200]
    assert (refused.status_code, refused.json()) == (
        400,
        {"detail": "body is not JSON: NaN is not a JSON number"},
    )

    drain(server_broker, ("events",))  # before: RecursionError, retried with no try counted

    stored = {row.dedupe_key: row for row in rows(db, select(InboxItem))}
    assert sorted(stored) == ["w-deep", "w-good"]
    assert (stored["w-deep"].status, stored["w-deep"].attempts, stored["w-deep"].error) == (
        "failed",
        1,
        "body is not JSON: nested deeper than 64 levels",
    )
    assert (stored["w-good"].status, stored["w-good"].attempts) == ("normalised", 1)
    [event] = rows(db, select(Event))
    assert (event.type, event.status) == ("order.placed", EventStatus.PROCESSED)
