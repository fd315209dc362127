"""Paid membership through the real door: Stripe's signed webhooks (its own API fixtures) go
through the web intake and the worker's processing to the customer's membership row, whose
period only moves forward, and whose benefits double the points of an order in its period."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select
from sqlmodel import Session

from models.tables import EVENTS, LOYALTY_ENTRIES, LOYALTY_MEMBERSHIPS
from tests.integration.test_stripe import CUSTOMER, T0, checkout_completed
from tests.support.brokers import drain
from tests.support.factories import order_event
from tests.support.web import TestClient
from tests.support.webhooks import stripe_event, stripe_headers, with_secrets
from worker import current_time
from worker.intake.ingest import store_events
from worker.privacy import erasure, exports
from worker.privacy.holdings import find_customer
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.web import create_app

DAY = timedelta(days=1)
PRICE = "price_1PgafmB7WZ01zgkW6dKueIc5"  # the fixture subscription's price
SUB = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"  # and its id
P0 = int(T0.timestamp())  # the first period: a year from the checkout
P1 = P0 + 365 * 86400
P2 = P1 + 365 * 86400


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "paid-membership")


@pytest.fixture
def client(
    usd_shop: None,  # noqa: ARG001  (the fixtures' invoices are in dollars)
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001
) -> Iterator[TestClient]:
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post(client: TestClient, event: dict[str, Any], *, created: int) -> None:
    """Signs and posts `event` as Stripe sends it a few seconds after `created`."""
    event["created"] = created
    current_time.freeze(at(max(created + 5, int(T0.timestamp()))))
    body = json.dumps(event).encode()
    headers = stripe_headers(body, timestamp=int(current_time.now().timestamp()))
    response = client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200, response.text


def subscription(
    event_type: str, event_id: str, *, start: int, end: int, **changes: Any
) -> dict[str, Any]:
    """The fixture subscription, its period on its item (Stripe's API since 2025-03)."""
    event = stripe_event(event_type, "subscription", event_id=event_id, **changes)
    item = event["data"]["object"]["items"]["data"][0]
    item.update(current_period_start=start, current_period_end=end)
    return event


def invoice_paid(event_id: str, *, start: int, end: int) -> dict[str, Any]:
    event = stripe_event("invoice.paid", "invoice", event_id=event_id, amount_paid=6000)
    line = event["data"]["object"]["lines"]["data"][0]
    line["period"] = {"start": start, "end": end}
    # The fixture's placeholder: a subscription's invoice names its subscription here.
    parent = {"type": "subscription_details", "subscription_details": {"subscription": SUB}}
    event["data"]["object"]["parent"] = parent
    return event


def membership(db: Session) -> Any:
    """The one membership row, read fresh, with the read ended (SQLite's lock)."""
    db.rollback()
    row = db.execute(select(LOYALTY_MEMBERSHIPS)).one()
    db.rollback()
    return row


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_signed_subscription_events_set_the_membership_and_an_older_one_moves_nothing_back(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post(client, checkout_completed(), created=P0)
    drain(stub_broker)
    post(client, subscription("customer.subscription.created", "e1", start=P0, end=P1), created=P0)
    post(client, invoice_paid("e2", start=P0, end=P1), created=P0 + 5)
    drain(stub_broker)

    row = membership(db)
    assert (row.status, row.plan, row.subscription_id) == (
        "active",
        PRICE,
        SUB,
    )
    assert (row.period_start, row.period_end) == (at(P0), at(P1))
    assert row.started_at == at(1234567890)  # the subscription's own start_date

    # A year on, the renewal is paid; then an update from before it arrives late, past_due.
    post(client, invoice_paid("e3", start=P1, end=P2), created=P1 + 5)
    late = subscription("customer.subscription.updated", "e4", start=P0, end=P1, status="past_due")
    post(client, late, created=P1 - 3600)
    post(client, invoice_paid("e3", start=P1, end=P2), created=P1 + 5)  # told twice
    drain(stub_broker)

    row = membership(db)
    assert (row.status, row.period_start, row.period_end) == ("active", at(P1), at(P2))

    ended = subscription(
        "customer.subscription.deleted", "e5", start=P1, end=P2, status="canceled", ended_at=P2
    )
    post(client, ended, created=P2)
    drain(stub_broker)
    row = membership(db)
    assert (row.status, row.ended_at, row.period_end) == ("cancelled", at(P2), at(P2))


def test_a_one_off_invoice_of_no_subscription_makes_no_membership(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    """A purchase paid through Stripe's invoices is not a membership: no row, so the lapse
    sweep has nobody to tell that they lapsed."""
    post(client, checkout_completed(), created=P0)
    drain(stub_broker)
    one_off = stripe_event("invoice.paid", "invoice", event_id="e1", amount_paid=6000)
    invoice = one_off["data"]["object"]
    invoice["lines"]["data"][0]["period"] = {"start": P0, "end": P0}
    invoice["subscription"] = invoice["parent"] = None  # the fixture's placeholder, gone
    post(client, one_off, created=P0 + 5)
    drain(stub_broker)

    db.rollback()
    assert db.execute(select(LOYALTY_MEMBERSHIPS)).all() == []
    statuses = db.execute(select(EVENTS.c.type, EVENTS.c.status)).all()
    assert ("membership.paid", "processed") in [tuple(row) for row in statuses]


def test_a_paid_member_earns_double_points_on_an_order_in_the_period_and_single_after_it(
    client: TestClient, db: Session, stub_broker: StubBroker, runtime: Runtime
) -> None:
    post(client, checkout_completed(), created=P0)
    drain(stub_broker)
    post(client, subscription("customer.subscription.created", "e1", start=P0, end=P1), created=P0)
    drain(stub_broker)
    scheduler = Scheduler(runtime.triggers, runtime.settings, programme=runtime.programme)
    for n, when in enumerate((at(P0) + DAY, at(P1) + 30 * DAY)):
        event = order_event(
            event_id=f"o{n}",
            order_id=str(n),
            at=when,
            type="order.paid",
            total="50.00",
            currency="USD",
            email="example@example.com",
        )
        ids = store_events(db, [event], now=when).stored
        process_many(db, ids, now=when, scheduler=scheduler)
    earned = db.execute(select(LOYALTY_ENTRIES.c.pending).order_by(LOYALTY_ENTRIES.c.id))
    # Twice the points in the paid period; the second order came after it and its grace.
    assert list(earned.scalars()) == [100, 50]


def test_the_privacy_export_holds_the_membership_and_forgetting_drops_the_subscription(
    client: TestClient, db: Session, stub_broker: StubBroker, runtime: Runtime
) -> None:
    post(client, checkout_completed(), created=P0)
    drain(stub_broker)
    post(client, subscription("customer.subscription.created", "e1", start=P0, end=P1), created=P0)
    drain(stub_broker)
    customer = find_customer(db, "stripe", CUSTOMER, None)
    assert customer is not None
    path = exports.export(
        db, customer, source="cli", reference=None, now=T0, into=runtime.settings.exports_dir
    )
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["membership"]["plan"] == PRICE
    assert document["membership"]["subscription_id"] == SUB

    erasure.forget(db, customer, source="cli", reference=None, now=T0, settings=runtime.settings)
    db.commit()
    row = membership(db)
    assert (row.subscription_id, row.plan, row.status) == (None, PRICE, "active")
