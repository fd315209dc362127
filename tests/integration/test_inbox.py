"""Webhook deliveries normalised into canonical events, customers, orders and emails."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import Customer, CustomerExternalId, Delivery, Event, InboxItem, Order, OrderLine
from tests.integration.test_webhooks import with_secrets
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import shopify_headers, shopify_payload
from worker import clock, timesource
from worker.runtime import Runtime
from worker.web import create_app

# Just after the documented samples' time (2021-12-31T19:00:00-05:00), so nothing is "too late".
T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    timesource.freeze(T0)
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
    db.expire_all()
    return list(db.exec(select(Event).order_by(Event.id)).all())  # type: ignore[arg-type]


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
    customer = db.exec(select(Customer)).one()
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
    timesource.freeze(later)
    db.rollback()
    clock.tick(db, now=later, runtime=runtime)
    drain(stub_broker)
    delivery = db.exec(select(Delivery)).one()
    db.refresh(delivery)
    assert delivery.status == "sent"
    [eml] = Path(runtime.settings.outbox_dir).glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes())
    assert message["To"] == "john@example.com"
