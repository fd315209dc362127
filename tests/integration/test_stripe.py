"""Stripe events, from Stripe's own API fixtures, into membership events for paid programmes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import Customer, CustomerExternalId, Event, InboxItem
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import one, rows, stripe_event, stripe_headers, with_secrets
from worker import current_time
from worker.runtime import Runtime
from worker.web import create_app

T0 = datetime(2009, 2, 13, 23, 35, tzinfo=UTC)  # just after the fixtures' `created`
CUSTOMER = "cus_QXg1o8vcGmoR32"  # the customer of the fixture subscription and invoice


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_stripe(client: TestClient, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    headers = stripe_headers(body, timestamp=int(T0.timestamp()))
    response = client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200, response.text


def checkout_completed() -> dict[str, Any]:
    # The fixture session has no customer id; a subscription checkout names the customer.
    return stripe_event(
        "checkout.session.completed",
        "checkout.session",
        event_id="evt_checkout",
        customer=CUSTOMER,
        mode="subscription",
        status="complete",
        payment_status="paid",
    )


def test_a_subscription_checkout_then_its_events_become_membership_events(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_stripe(client, checkout_completed())
    drain(stub_broker)
    customer = one(db, select(Customer))
    assert customer.email == "example@example.com"  # customer_details.email of the fixture
    assert one(db, select(CustomerExternalId.external_id)) == CUSTOMER
    for event_type, resource, event_id in (
        ("customer.subscription.created", "subscription", "evt_sub_created"),
        ("invoice.paid", "invoice", "evt_invoice_paid"),
        ("customer.subscription.updated", "subscription", "evt_sub_updated"),
        ("customer.subscription.deleted", "subscription", "evt_sub_deleted"),
    ):
        post_stripe(client, stripe_event(event_type, resource, event_id=event_id))
    drain(stub_broker)
    events = {e.source_event_id: e for e in rows(db, select(Event))}
    assert {key: (e.type, e.status) for key, e in events.items()} == {
        "evt_checkout": ("checkout.completed", "processed"),
        "evt_sub_created": ("membership.started", "processed"),
        "evt_invoice_paid": ("membership.paid", "processed"),
        "evt_sub_updated": ("membership.updated", "processed"),
        "evt_sub_deleted": ("membership.ended", "processed"),
    }
    assert {e.customer_id for e in events.values()} == {customer.id}
    invoice = events["evt_invoice_paid"].payload["data"]
    assert (invoice["id"], invoice["amount_paid"], invoice["currency"]) == (
        "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        0,
        "USD",
    )
    assert events["evt_sub_created"].payload["data"]["status"] == "active"
    assert events["evt_sub_created"].occurred_at == datetime.fromtimestamp(1234567890, UTC)


def test_a_subscription_event_before_its_checkout_waits_for_the_customer(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_stripe(
        client, stripe_event("customer.subscription.created", "subscription", event_id="e1")
    )
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert row.status == "pending"
    assert row.error == (
        f"waiting: Stripe customer {CUSTOMER} is not known yet and this event has no email "
        "(it comes with their checkout.session.completed)"
    )
    assert rows(db, select(Event)) == []


def test_an_event_type_ladder_does_not_use_is_kept_and_marked_ignored(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_stripe(client, stripe_event("plan.created", "plan", event_id="evt_plan"))
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.status, row.error) == (
        "ignored",
        "Stripe event type 'plan.created' is not used by Ladder",
    )
