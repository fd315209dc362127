"""Shopify topics, from their documented samples, into canonical events, customers and orders."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, col, select

from models import Customer, CustomerExternalId, Delivery, Event, InboxItem, Order, OrderLine
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import one, rows, shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.queue import clock
from worker.runtime import Runtime
from worker.web import create_app

# The platforms' documented samples are a dollar shop's orders.
pytestmark = pytest.mark.usefixtures("usd_shop")

# Just after the documented samples' time (2021-12-31T19:00:00-05:00), so nothing is "too late".
T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_shopify(
    client: TestClient, topic: str, payload: dict[str, Any], *, webhook_id: str | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = shopify_headers(topic, body, webhook_id=webhook_id or f"wh-{topic}")
    response = client.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 200, response.text


def events_of(db: Session) -> list[Event]:
    return rows(db, select(Event).order_by(Event.id))  # type: ignore[arg-type]


def test_a_shopify_first_order_becomes_one_order_placed_and_one_thank_you_email(
    client: TestClient, db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    post_shopify(client, "orders/create", shopify_payload("orders/create"))
    drain(stub_broker)

    [event] = events_of(db)
    assert (event.source, event.source_event_id, event.type, event.status) == (
        "shopify",
        "order:820982911946154500:placed",
        "order.placed",
        "processed",
    )
    # 2021-12-31T19:00:00-05:00, stored in UTC.
    assert event.occurred_at == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)
    customer = one(db, select(Customer))
    assert (customer.email, customer.first_name, customer.last_name) == (
        "john@example.com",
        "John",
        "Smith",
    )
    assert (customer.accepts_marketing, customer.consent_source) == (True, "shopify")
    assert db.exec(select(CustomerExternalId.external_id)).one() == "115310627314723950"
    order = db.exec(select(Order)).one()
    assert (order.source_order_id, order.total, order.currency) == (
        "820982911946154500",
        40495,
        "USD",
    )
    lines = db.exec(select(OrderLine).order_by(OrderLine.id)).all()  # type: ignore[arg-type]
    assert (lines[0].product_id, lines[0].title, lines[0].quantity, lines[0].price) == (
        "788032119674292900",
        "Aviator sunglasses",
        1,
        8999,
    )
    assert db.exec(select(InboxItem.status, InboxItem.events)).one() == ("normalised", 1)

    # The thank-you is due two hours after the order; the clock sends it.
    later = datetime(2022, 1, 1, 2, 1, tzinfo=UTC)
    current_time.freeze(later)
    db.rollback()
    clock.tick(db, now=later, runtime=runtime)
    drain(stub_broker)
    delivery = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).one()
    db.refresh(delivery)
    assert delivery.status == "sent"
    [eml] = Path(runtime.settings.outbox_dir).glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes())
    assert message["To"] == "john@example.com"


def order_of(db: Session) -> Order:
    order: Order = one(db, select(Order))
    return order


def test_paid_fulfilled_and_cancelled_move_the_order_and_are_each_one_event(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    # One at a time: two `process` runs moving the same order at once can lose an update in
    # worker/processing/orders.py (read, then write the status) on PostgreSQL; reported, not
    # this module's.
    for topic in ("orders/create", "orders/paid", "orders/fulfilled"):
        post_shopify(client, topic, shopify_payload(topic))
        drain(stub_broker)
    assert [(e.type, e.status) for e in events_of(db)] == [
        ("order.placed", "processed"),
        ("order.paid", "processed"),
        ("order.fulfilled", "processed"),
    ]
    assert order_of(db).status == "fulfilled"
    post_shopify(client, "orders/cancelled", shopify_payload("orders/cancelled"))
    drain(stub_broker)
    *_, cancelled, slipped = events_of(db)
    assert cancelled.type == "order.cancelled"
    # No counting order left: back to the ground of the ladder, told as Ladder's own event.
    assert (slipped.source, slipped.type, slipped.payload["data"]["to"]) == (
        "ladder", "rung.down", "prospect",
    )  # fmt: skip
    assert order_of(db).status == "cancelled"
    customer = one(db, select(Customer))
    assert customer.orders_count == 0  # a cancelled order no longer counts


def test_the_same_order_event_from_two_webhook_deliveries_is_one_canonical_event(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    payload = shopify_payload("orders/create")
    post_shopify(client, "orders/create", payload, webhook_id="subscription-a")
    post_shopify(client, "orders/create", payload, webhook_id="subscription-b")
    drain(stub_broker)
    assert [e.type for e in events_of(db)] == ["order.placed"]
    inbox = rows(db, select(InboxItem).order_by(InboxItem.id))  # type: ignore[arg-type]
    assert [row.events for row in inbox] == [1, 1]


def test_a_partial_refund_becomes_order_refunded_with_its_amount_and_the_order_still_counts(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_shopify(client, "orders/create", shopify_payload("orders/create"))
    drain(stub_broker)
    post_shopify(client, "refunds/create", shopify_payload("refunds/create"))
    drain(stub_broker)
    refunded = events_of(db)[-1]
    assert (refunded.type, refunded.source_event_id, refunded.status) == (
        "order.refunded",
        "refund:890088186047892400",
        "processed",
    )
    # The two successful refund transactions of the sample: 75.00 + 10.00.
    assert refunded.payload["data"]["amount"] == "85.00"
    assert refunded.payload["data"]["full"] is False  # of 404.95
    assert refunded.payload["order"]["currency"] == "USD"
    assert refunded.payload["order"]["refund"] == {"id": "890088186047892400", "amount": "85.00"}
    # 85.00 of 404.95 given back: the order still counts, for what was kept.
    order = order_of(db)
    assert (order.status, order.refunded, order.shop_refunded) == ("placed", 8500, 8500)
    customer = one(db, select(Customer))
    assert (customer.orders_count, customer.total_spent) == (1, 40495 - 8500)


def test_an_order_paid_in_another_currency_counts_its_shop_money(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    order = shopify_payload("orders/create")
    # Changed from the sample: the customer paid in yen (`presentment_money` and
    # `presentment_currency`); the shop's money stays the sample's dollars.
    order["presentment_currency"] = "JPY"
    order["total_price_set"]["presentment_money"] = {"amount": "61000", "currency_code": "JPY"}
    post_shopify(client, "orders/create", order)
    drain(stub_broker)

    recorded = order_of(db)
    assert (recorded.total, recorded.currency, recorded.shop_total) == (61000, "JPY", 40495)
    assert one(db, select(Customer)).total_spent == 40495  # the shop's dollars, not the yen


def test_a_refund_before_its_order_waits_for_it_and_then_fails_with_the_reason(
    client: TestClient, db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    post_shopify(client, "refunds/create", shopify_payload("refunds/create"))
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.status, row.attempts) == ("pending", 1)
    assert (
        row.error == "waiting: refund for order 820982911946154500, which Ladder has not seen yet"
    )
    # The order arrives; the clock's relay tries the refund again once it has waited long enough.
    post_shopify(client, "orders/create", shopify_payload("orders/create"))
    drain(stub_broker)
    later = T0 + timedelta(seconds=runtime.settings.requeue_after_s + 1)
    clock.tick(db, now=later, runtime=runtime)
    drain(stub_broker)
    assert sorted(e.type for e in events_of(db)) == ["order.placed", "order.refunded"]
    assert one(db, select(InboxItem).where(InboxItem.topic == "refunds/create")).status == (
        "normalised"
    )


def test_a_refund_whose_order_never_comes_is_failed_after_five_tries(
    client: TestClient, db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    post_shopify(client, "refunds/create", shopify_payload("refunds/create"))
    drain(stub_broker)
    for n in range(1, 5):
        later = T0 + n * timedelta(seconds=runtime.settings.requeue_after_s + 1)
        clock.tick(db, now=later, runtime=runtime)
        drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.status, row.attempts) == ("failed", 5)
    assert row.error == (
        "refund for order 820982911946154500, which Ladder has not seen yet, after 5 tries"
    )
    assert events_of(db) == []


def test_customers_create_and_update_keep_profile_and_consent_with_its_time(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_shopify(client, "customers/create", shopify_payload("customers/create"))
    drain(stub_broker)
    bob = one(db, select(Customer))
    assert (bob.email, bob.first_name, bob.last_name, bob.accepts_marketing) == (
        "bob@biller.com",
        "Bob",
        "Biller",
        False,
    )
    assert bob.consent_changed_at is None  # the sample says nothing about consent
    # The 2026-04 sample carries no consent; a shop with email marketing sends this object.
    update = shopify_payload("customers/update")
    update["email_marketing_consent"] = {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2022-01-01T09:30:00+09:00",
    }
    post_shopify(client, "customers/update", update)
    drain(stub_broker)
    bob = one(db, select(Customer))
    assert (bob.accepts_marketing, bob.consent_source) == (True, "shopify")
    assert bob.consent_changed_at == datetime(2022, 1, 1, 0, 30, tzinfo=UTC)
    assert sorted(e.type for e in events_of(db)) == ["customer.created", "customer.updated"]


def test_an_email_marketing_consent_update_withdraws_consent_at_its_time(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    subscribed = shopify_payload("customers/create")
    subscribed["email_marketing_consent"] = {
        "state": "subscribed",
        "consent_updated_at": "2021-12-31T19:00:00-05:00",
    }
    post_shopify(client, "customers/create", subscribed)
    post_shopify(
        client,
        "customers_email_marketing_consent/update",
        shopify_payload("customers_email_marketing_consent/update"),
    )
    drain(stub_broker)
    bob = one(db, select(Customer))
    # The sample's state is "not_subscribed" with no consent_updated_at: the time is Shopify's
    # X-Shopify-Triggered-At.
    assert (bob.accepts_marketing, bob.consent_source) == (False, "shopify")
    assert bob.consent_changed_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    [consent] = [e for e in events_of(db) if e.source_event_id.startswith("consent:")]
    assert consent.payload["data"]["consent"]["state"] == "not_subscribed"


def test_checkouts_become_checkout_started_and_updated_for_abandoned_checkout_flows(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_shopify(client, "checkouts/create", shopify_payload("checkouts/create"))
    post_shopify(client, "checkouts/update", shopify_payload("checkouts/update"))
    drain(stub_broker)
    started, updated = sorted(events_of(db), key=lambda event: event.type != "checkout.started")
    assert (started.type, started.source_event_id) == (
        "checkout.started",
        "checkout:123123123:started",
    )
    assert updated.type == "checkout.updated"
    checkout = started.payload["data"]["checkout"]
    assert (checkout["total"], checkout["currency"]) == ("421.88", "USD")
    assert checkout["url"].startswith(
        "https://checkout.local/548380009/checkouts/123123123/recover"
    )
    assert checkout["lines"][0] == {
        "product_id": "632910392",
        "title": "IPod Nano - 8GB",
        "category": None,
        "quantity": 1,
        "price": "199.00",
    }
    customer = one(db, select(Customer))
    # The checkout names a known customer account (john@); its own `email` field is example@.
    assert (customer.email, customer.orders_count) == ("john@example.com", 0)


def test_a_topic_ladder_does_not_use_is_kept_and_marked_ignored(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_shopify(client, "app/uninstalled", shopify_payload("app/uninstalled"))
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.status, row.error) == (
        "ignored",
        "Shopify topic 'app/uninstalled' is not used by Ladder",
    )
    assert json.loads(row.body) == shopify_payload("app/uninstalled")


def test_the_accepts_marketing_fields_of_older_api_versions_are_consent_too(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    legacy = shopify_payload("customers/create")
    legacy.update(accepts_marketing=True, accepts_marketing_updated_at="2021-12-31T20:00:00-05:00")
    post_shopify(client, "customers/create", legacy)
    drain(stub_broker)
    bob = one(db, select(Customer))
    assert (bob.accepts_marketing, bob.consent_source) == (True, "shopify")
    assert bob.consent_changed_at == datetime(2022, 1, 1, 1, 0, tzinfo=UTC)
