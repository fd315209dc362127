"""A signed body cannot be replayed as another topic, shop or account.

Shopify and WooCommerce sign the body, not the topic header (nor Shopify's shop header): one
captured, validly signed body can be posted again under any topic. Each topic's payload must
have that topic's shape before anything acts on it; a privacy request must name the shop that
sent it; a shop's erasure reaches that shop's customers only, and a redact is carried out once.
Payloads are the platforms' documented examples (tests/fixtures, sources in their README).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select, update

from models import Customer, CustomerExternalId, InboxItem, PrivacyRecord
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import (
    SHOP_DOMAIN,
    one,
    rows,
    shopify_headers,
    shopify_payload,
    stripe_event,
    stripe_headers,
    with_secrets,
    woo_customer,
    woo_headers,
    woo_order,
)
from worker import current_time
from worker.runtime import Runtime
from worker.web import create_app

# The platforms' documented samples are a dollar shop's orders.
pytestmark = pytest.mark.usefixtures("usd_shop")

T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)
OTHER_SHOP = "other-shop.myshopify.com"
JOHN, BOB = "john@example.com", "bob@biller.com"  # the samples' order customer, and customer


def client_for(runtime: Runtime, **settings: object) -> TestClient:
    current_time.freeze(T0)
    return TestClient(create_app(with_secrets(runtime.settings, **settings)))


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    with client_for(runtime) as client:
        yield client


def post_body(
    client: TestClient, topic: str, body: bytes, *, webhook_id: str, shop: str = SHOP_DOMAIN
) -> httpx.Response:
    headers = shopify_headers(topic, body, webhook_id=webhook_id, shop=shop)
    answer: httpx.Response = client.post("/webhooks/shopify", content=body, headers=headers)
    return answer


def post(
    client: TestClient,
    topic: str,
    payload: dict[str, Any],
    *,
    shop: str = SHOP_DOMAIN,
    webhook_id: str | None = None,
) -> bytes:
    """Posts `payload` as Shopify sends `topic`; returns the signed body, for a replay."""
    body = json.dumps(payload).encode()
    webhook_id = webhook_id or f"wh-{topic}-{shop}"
    answer = post_body(client, topic, body, webhook_id=webhook_id, shop=shop)
    assert answer.status_code == 200, answer.text
    return body


def emails(db: Session) -> list[str]:
    return sorted(customer.email for customer in rows(db, select(Customer)))


def history(client: TestClient, stub_broker: StubBroker) -> bytes:
    """John's order and Bob's customer record, from SHOP_DOMAIN; returns the order's body."""
    order = post(client, "orders/create", shopify_payload("orders/create"))
    post(client, "customers/create", shopify_payload("customers/create"))
    drain(stub_broker)
    return order


# --- Shopify: a body has its topic's shape ----------------------------------------------------


@pytest.mark.parametrize("topic", ["shop/redact", "customers/redact", "customers/update"])
def test_a_signed_order_body_sent_again_under_another_topic_changes_nobody(
    client: TestClient, db: Session, stub_broker: StubBroker, topic: str
) -> None:
    order = history(client, stub_broker)
    assert emails(db) == [BOB, JOHN]

    answer = post_body(client, topic, order, webhook_id="wh-replayed")
    drain(stub_broker)

    assert answer.status_code == 200  # signed: stored, and refused when read
    assert emails(db) == [BOB, JOHN]
    assert rows(db, select(PrivacyRecord)) == []
    assert all(row.body for row in rows(db, select(InboxItem)))  # no body blanked
    row = one(db, select(InboxItem).where(InboxItem.topic == topic))
    assert row.status == "failed"
    assert topic in (row.error or "")  # the reason names the topic and the field


@pytest.mark.parametrize(
    ("signed_as", "sent_as"),
    [
        ("customers/redact", "shop/redact"),
        ("customers/data_request", "customers/redact"),
        ("shop/redact", "customers/redact"),
        ("customers/redact", "customers/data_request"),
    ],
)
def test_a_privacy_body_sent_as_another_privacy_topic_is_refused(
    client: TestClient, db: Session, stub_broker: StubBroker, signed_as: str, sent_as: str
) -> None:
    history(client, stub_broker)
    body = json.dumps(shopify_payload(signed_as)).encode()

    post_body(client, sent_as, body, webhook_id="wh-replayed")
    drain(stub_broker)

    assert emails(db) == [BOB, JOHN]
    assert rows(db, select(PrivacyRecord)) == []
    row = one(db, select(InboxItem).where(InboxItem.topic == sent_as))
    assert (row.status, (row.error or "").startswith(f"not a {sent_as} body")) == ("failed", True)


def test_a_customers_redact_sent_again_under_a_new_webhook_id_does_nothing_the_second_time(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    history(client, stub_broker)
    redact = post(client, "customers/redact", shopify_payload("customers/redact"))
    drain(stub_broker)
    assert JOHN not in emails(db)
    # John comes back and orders again: a new customer row, the old one stays forgotten.
    again = {**shopify_payload("orders/create"), "id": 4242, "order_number": 4242}
    post(client, "orders/create", again, webhook_id="wh-second-order")
    drain(stub_broker)
    assert JOHN in emails(db)

    answer = post_body(client, "customers/redact", redact, webhook_id="wh-a-new-id")
    drain(stub_broker)

    assert answer.status_code == 200
    assert answer.json()["duplicate"] is True  # the same signed request, whatever its id
    assert JOHN in emails(db)
    assert [r.kind for r in rows(db, select(PrivacyRecord))] == ["forget"]


def test_shop_redact_forgets_only_the_customers_of_the_shop_that_asked(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post(client, "orders/create", shopify_payload("orders/create"))  # John, at SHOP_DOMAIN
    post(client, "customers/create", shopify_payload("customers/create"), shop=OTHER_SHOP)
    drain(stub_broker)
    redact = {**shopify_payload("shop/redact"), "shop_domain": OTHER_SHOP}

    post(client, "shop/redact", redact, shop=OTHER_SHOP)
    drain(stub_broker)

    assert JOHN in emails(db)
    assert BOB not in emails(db)
    johns = one(db, select(InboxItem).where(InboxItem.topic == "orders/create"))
    assert JOHN.encode() in johns.body.lower()  # another shop's webhooks are kept
    bobs = one(db, select(InboxItem).where(InboxItem.topic == "customers/create"))
    assert bobs.body == b""
    record = one(db, select(PrivacyRecord).where(PrivacyRecord.kind == "shop_redact"))
    assert record.account == OTHER_SHOP


def test_a_shop_redact_whose_signed_shop_is_not_the_sender_is_refused(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    history(client, stub_broker)
    # A real shop/redact of another shop, posted with this shop's (unsigned) header.
    redact = {**shopify_payload("shop/redact"), "shop_domain": OTHER_SHOP}

    post(client, "shop/redact", redact)
    drain(stub_broker)

    assert emails(db) == [BOB, JOHN]
    row = one(db, select(InboxItem).where(InboxItem.topic == "shop/redact"))
    assert row.status == "failed"
    assert "shop_domain" in (row.error or "")


def test_with_a_configured_shop_another_shops_delivery_is_a_400(
    runtime: Runtime,
    db: Session,
    stub_broker: StubBroker,  # noqa: ARG001
) -> None:
    with client_for(runtime, shopify_shop_domain=SHOP_DOMAIN) as client:
        body = json.dumps(shopify_payload("orders/create")).encode()
        ours = post_body(client, "orders/create", body, webhook_id="wh-1")
        theirs = post_body(client, "orders/create", body, webhook_id="wh-2", shop=OTHER_SHOP)

    assert ours.status_code == 200
    assert theirs.status_code == 400
    assert "X-Shopify-Shop-Domain" in theirs.json()["detail"]
    assert len(rows(db, select(InboxItem))) == 1


def test_with_a_configured_shop_a_redact_naming_another_shop_erases_nobody(
    runtime: Runtime, db: Session, stub_broker: StubBroker
) -> None:
    with client_for(runtime, shopify_shop_domain=SHOP_DOMAIN) as client:
        history(client, stub_broker)
        redact = {**shopify_payload("shop/redact"), "shop_domain": OTHER_SHOP}
        post(client, "shop/redact", redact)  # the header says the configured shop
        drain(stub_broker)

    assert emails(db) == [BOB, JOHN]
    assert one(db, select(InboxItem.status).where(InboxItem.topic == "shop/redact")) == "failed"


# --- WooCommerce: the signature covers the body, not X-WC-Webhook-Topic -----------------------


@pytest.mark.parametrize(
    ("payload", "sent_as", "resource"),
    [
        (woo_customer, "order.created", "an order"),
        (woo_order, "customer.updated", "a customer"),
    ],
)
def test_a_woocommerce_body_sent_under_another_resources_topic_is_refused(
    client: TestClient,
    db: Session,
    stub_broker: StubBroker,
    payload: Any,
    sent_as: str,
    resource: str,
) -> None:
    body = json.dumps(payload()).encode()

    answer = client.post("/webhooks/woocommerce", content=body, headers=woo_headers(sent_as, body))
    drain(stub_broker)

    assert answer.status_code == 200
    row = one(db, select(InboxItem))
    assert row.status == "failed"
    assert f"a {sent_as} body is {resource}" in (row.error or "")
    assert rows(db, select(Customer)) == []


# --- Stripe: the type is signed; the mode and the account must be the configured ones ----------


def post_stripe(client: TestClient, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    headers = stripe_headers(body, timestamp=int(T0.timestamp()))
    answer: httpx.Response = client.post("/webhooks/stripe", content=body, headers=headers)
    return answer


def test_a_test_mode_stripe_event_is_refused_where_live_mode_is_configured(
    runtime: Runtime,
    db: Session,
    stub_broker: StubBroker,  # noqa: ARG001
) -> None:
    event = stripe_event("invoice.paid", "invoice", event_id="evt_test_mode")
    assert event["livemode"] is False  # Stripe's fixture is a test-mode event

    with client_for(runtime, stripe_livemode=True) as client:
        answer = post_stripe(client, event)

    assert answer.status_code == 400
    assert "livemode" in answer.json()["detail"]
    assert rows(db, select(InboxItem)) == []


def test_a_connected_accounts_stripe_event_is_refused_unless_it_is_the_configured_account(
    runtime: Runtime,
    db: Session,
    stub_broker: StubBroker,  # noqa: ARG001
) -> None:
    event = {
        **stripe_event("invoice.paid", "invoice", event_id="evt_connect"),
        "account": "acct_1X",
    }

    with client_for(runtime) as client:
        refused = post_stripe(client, event)
    with client_for(runtime, stripe_account="acct_1X") as client:
        accepted = post_stripe(client, event)

    assert refused.status_code == 400
    assert "account" in refused.json()["detail"]
    assert accepted.status_code == 200
    assert len(rows(db, select(InboxItem))) == 1


def test_platform_ids_recorded_before_shops_were_count_as_the_configured_shops(
    runtime: Runtime, db: Session, stub_broker: StubBroker
) -> None:
    with client_for(runtime, shopify_shop_domain=SHOP_DOMAIN) as client:
        history(client, stub_broker)
        # As migration 0006 leaves the links it found: no shop recorded.
        db.execute(update(CustomerExternalId).values(account=None))
        db.commit()
        post(client, "shop/redact", shopify_payload("shop/redact"))
        drain(stub_broker)

    assert JOHN not in emails(db)
    assert BOB not in emails(db)


def test_a_stripe_event_whose_object_is_not_its_types_is_refused_when_read(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    event = stripe_event("invoice.paid", "subscription", event_id="evt_wrong_object")

    assert post_stripe(client, event).status_code == 200
    drain(stub_broker)

    row = one(db, select(InboxItem))
    assert (row.status, row.error) == (
        "failed",
        "invoice.paid: data.object.object is not 'invoice'",
    )
