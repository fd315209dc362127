"""`POST /webhooks/{platform}` as a platform sees it: answers, signatures, duplicates, limits."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import uvicorn
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import InboxItem
from tests.support.brokers import drain
from tests.support.services import free_port
from tests.support.waiting import wait_until
from tests.support.web import TestClient
from tests.support.webhooks import (
    SHOPIFY_OLD_SECRET,
    fixture,
    shopify_headers,
    shopify_payload,
    stripe_event,
    stripe_headers,
    with_secrets,
    woo_headers,
    woo_order,
)
from worker import current_time
from worker.runtime import Runtime
from worker.web import create_app

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def inbox_rows(db: Session) -> list[InboxItem]:
    db.expire_all()
    rows = list(db.exec(select(InboxItem).order_by(InboxItem.id)).all())  # type: ignore[arg-type]
    db.rollback()  # End the read: on SQLite every transaction holds the write lock.
    return rows


def order_body() -> bytes:
    return json.dumps(shopify_payload("orders/create")).encode()


def test_a_signed_shopify_delivery_is_stored_raw_and_answered_200(
    client: TestClient, db: Session
) -> None:
    body = order_body()
    response = client.post(
        "/webhooks/shopify", content=body, headers=shopify_headers("orders/create", body)
    )
    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    [row] = inbox_rows(db)
    assert (row.source, row.topic, row.dedupe_key, row.status) == (
        "shopify",
        "orders/create",
        "wh-1",
        "pending",
    )
    assert row.body == body  # byte for byte, as signed
    assert row.headers["x-shopify-shop-domain"] == "ladder-test.myshopify.com"
    assert "x-shopify-hmac-sha256" not in row.headers


def test_a_rotated_out_shopify_secret_still_works_during_the_switch(
    client: TestClient, db: Session
) -> None:
    body = order_body()
    headers = shopify_headers("orders/create", body, secret=SHOPIFY_OLD_SECRET)
    assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 200
    assert len(inbox_rows(db)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"X-Shopify-Hmac-Sha256": ""},
        {"X-Shopify-Hmac-Sha256": "bm90IHRoZSBzaWduYXR1cmU="},
        {"X-Shopify-Hmac-Sha256": "not base64 at all !?"},
    ],
)
def test_a_shopify_delivery_with_a_missing_or_wrong_signature_is_refused_with_401(
    client: TestClient, db: Session, change: dict[str, str]
) -> None:
    body = order_body()
    headers = {**shopify_headers("orders/create", body), **change}
    headers = {name: value for name, value in headers.items() if value}
    response = client.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 401
    assert inbox_rows(db) == []


def test_a_body_signed_with_an_unknown_secret_or_altered_after_signing_is_refused(
    client: TestClient, db: Session
) -> None:
    body = order_body()
    forged = shopify_headers("orders/create", body, secret="someone-else")
    altered = shopify_headers("orders/create", body)
    assert client.post("/webhooks/shopify", content=body, headers=forged).status_code == 401
    tampered = body.replace(b"404.95", b"  0.01")
    assert client.post("/webhooks/shopify", content=tampered, headers=altered).status_code == 401
    assert inbox_rows(db) == []


def test_a_repeated_shopify_delivery_is_answered_200_and_stored_once(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    body = order_body()
    headers = shopify_headers("orders/create", body, webhook_id="retry-me")
    first = client.post("/webhooks/shopify", content=body, headers=headers)
    second = client.post("/webhooks/shopify", content=body, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert len(inbox_rows(db)) == 1
    assert stub_broker.queues["events"].qsize() == 1  # one normalise message, not two


def test_signed_bodies_that_are_not_what_shopify_sends_are_refused_with_400(
    client: TestClient, db: Session
) -> None:
    for body in (b"order placed!", b"[1, 2]", b"\xff\xfe"):
        headers = shopify_headers("orders/create", body)
        response = client.post("/webhooks/shopify", content=body, headers=headers)
        assert response.status_code == 400, body
    body = order_body()
    no_topic = {k: v for k, v in shopify_headers("orders/create", body).items() if "Topic" not in k}
    assert client.post("/webhooks/shopify", content=body, headers=no_topic).status_code == 400
    assert inbox_rows(db) == []


def test_a_signed_shopify_body_shaped_like_an_object_but_not_json_is_kept_and_marked_failed(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    # The route checks only the shape (the dedupe key is the webhook id header); nothing is
    # lost: the row is stored, and `normalise` marks it failed with the reason, for a replay.
    body = b'{"id": 1, "total_price": }'
    response = client.post(
        "/webhooks/shopify", content=body, headers=shopify_headers("orders/create", body)
    )
    assert response.status_code == 200
    drain(stub_broker)
    [row] = inbox_rows(db)
    assert (row.body, row.status) == (body, "failed")
    assert row.error is not None and row.error.startswith("body is not JSON")


def test_a_body_over_the_size_limit_is_refused_with_413(runtime: Runtime, db: Session) -> None:
    settings = with_secrets(runtime.settings, webhook_max_bytes=1000)
    body = order_body()
    assert len(body) > 1000
    with TestClient(create_app(settings)) as client:
        declared = client.post(
            "/webhooks/shopify", content=body, headers=shopify_headers("orders/create", body)
        )
        streamed = client.post(
            "/webhooks/shopify",
            content=iter([body[:600], body[600:]]),
            headers=shopify_headers("orders/create", body),
        )
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert inbox_rows(db) == []


@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "stripe"])
def test_no_secret_configured_answers_503_naming_the_unset_variable_not_a_bad_signature(
    runtime: Runtime, db: Session, platform: str
) -> None:
    body = (
        order_body()
        if platform != "stripe"
        else json.dumps(stripe_event("invoice.paid", "invoice", event_id="evt_1")).encode()
    )
    headers = {
        "shopify": lambda: shopify_headers("orders/create", body),
        "woocommerce": lambda: woo_headers("order.created", body),
        "stripe": lambda: stripe_headers(body, timestamp=int(T0.timestamp())),
    }[platform]()
    current_time.freeze(T0)
    with TestClient(create_app(runtime.settings)) as client:
        response = client.post(f"/webhooks/{platform}", content=body, headers=headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "300"
    assert f"{platform.upper()}_WEBHOOK_SECRETS is not set" in response.json()["detail"]
    assert "signature" not in response.json()["detail"].split(":")[0]
    assert inbox_rows(db) == []


def test_an_unknown_platform_is_404(client: TestClient) -> None:
    assert client.post("/webhooks/magento", content=b"{}").status_code == 404


def test_the_woocommerce_ping_gets_200_and_is_not_an_event(client: TestClient, db: Session) -> None:
    response = client.post(
        "/webhooks/woocommerce",
        content=b"webhook_id=42",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert inbox_rows(db) == []


def test_woocommerce_deliveries_are_verified_and_deduplicated_on_resource_and_modification(
    client: TestClient, db: Session
) -> None:
    order = woo_order()
    body = json.dumps(order).encode()
    first = client.post(
        "/webhooks/woocommerce", content=body, headers=woo_headers("order.created", body)
    )
    again = client.post(
        "/webhooks/woocommerce", content=body, headers=woo_headers("order.created", body)
    )
    order["date_modified_gmt"] = "2017-03-23T09:00:00"
    changed = json.dumps(order).encode()
    later = client.post(
        "/webhooks/woocommerce", content=changed, headers=woo_headers("order.updated", changed)
    )
    forged = client.post(
        "/webhooks/woocommerce",
        content=body,
        headers=woo_headers("order.created", body, secret="x"),
    )
    unsigned = client.post("/webhooks/woocommerce", content=body)
    assert [r.status_code for r in (first, again, later, forged, unsigned)] == [
        200,
        200,
        200,
        401,
        401,
    ]
    assert [row.dedupe_key for row in inbox_rows(db)] == [
        "order.created:727:2017-03-22T19:28:08",
        "order.updated:727:2017-03-23T09:00:00",
    ]


def test_stripe_deliveries_are_verified_with_any_secret_and_deduplicated_on_the_event_id(
    client: TestClient, db: Session
) -> None:
    event = stripe_event("invoice.paid", "invoice", event_id="evt_1")
    body = json.dumps(event).encode()
    now = int(T0.timestamp())
    first = client.post(
        "/webhooks/stripe", content=body, headers=stripe_headers(body, timestamp=now)
    )
    again = client.post(
        "/webhooks/stripe", content=body, headers=stripe_headers(body, timestamp=now + 60)
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert [(row.topic, row.dedupe_key) for row in inbox_rows(db)] == [("invoice.paid", "evt_1")]


def test_stripe_refuses_a_stale_timestamp_a_wrong_signature_and_a_missing_header(
    client: TestClient, db: Session
) -> None:
    body = json.dumps(stripe_event("invoice.paid", "invoice", event_id="evt_2")).encode()
    now = int(T0.timestamp())
    stale = stripe_headers(body, timestamp=now - 301)
    wrong = stripe_headers(body, timestamp=now, secret="whsec_other")
    answers = [
        client.post("/webhooks/stripe", content=body, headers=headers).status_code
        for headers in (stale, wrong, {"Stripe-Signature": "t=1,v0=abc"}, {})
    ]
    assert answers == [401, 401, 401, 401]
    assert inbox_rows(db) == []


def test_stripes_own_signature_vector_is_accepted_when_fresh_and_refused_when_stale(
    runtime: Runtime, db: Session
) -> None:
    vector = fixture("stripe/stripe_webhook_signature_vector_DERIVED.json")
    body = vector["payload"].encode()
    headers = {"Stripe-Signature": vector["stripe_signature_header"]}
    settings = with_secrets(runtime.settings)
    current_time.freeze(datetime.fromtimestamp(vector["timestamp"] + 10, UTC))
    with TestClient(create_app(settings)) as client:
        fresh = client.post("/webhooks/stripe", content=body, headers=headers)
        current_time.freeze(datetime.fromtimestamp(vector["timestamp"] + 301, UTC))
        stale = client.post("/webhooks/stripe", content=body, headers=headers)
    # The signature holds; the vector's payload (from stripe-python's tests) has no `type`,
    # which every event Stripe sends has: so 400, not 401.
    assert (fresh.status_code, stale.status_code) == (400, 401)
    assert fresh.json()["detail"] == "a Stripe event needs a string `id` and `type`"
    assert stale.json()["detail"].startswith("Stripe-Signature timestamp outside the tolerance")
    assert inbox_rows(db) == []


def test_a_stripe_signature_header_with_several_v1_values_passes_if_any_matches(
    client: TestClient, db: Session
) -> None:
    body = json.dumps(stripe_event("invoice.paid", "invoice", event_id="evt_3")).encode()
    now = int(T0.timestamp())
    right = stripe_headers(body, timestamp=now)["Stripe-Signature"].split("v1=")[1]
    header = f"t={now},v1={'0' * 64},v0=legacy,v1={right}"
    response = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    assert response.status_code == 200
    assert [row.dedupe_key for row in inbox_rows(db)] == ["evt_3"]


def test_a_stripe_timestamp_of_non_ascii_digits_is_refused_with_401_not_500(
    runtime: Runtime, db: Session
) -> None:
    # Byte 0xB2 reaches the app as '²' (headers are Latin-1): it passes str.isdigit() but not
    # int(). Sent on a real socket, as the TestClient re-encodes header bytes.
    body = json.dumps(stripe_event("invoice.paid", "invoice", event_id="evt_4")).encode()
    port = free_port()
    app = create_app(with_secrets(runtime.settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout_s=10, what="uvicorn to start")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("POST", "/webhooks/stripe")
        connection.putheader("Stripe-Signature", b"t=\xb2,v1=abc")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        answer = (response.status, json.loads(response.read())["detail"])
        connection.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert answer == (401, "missing or malformed Stripe-Signature")
    assert inbox_rows(db) == []


@pytest.mark.parametrize(
    "event_id", ["evt_\u0000x", "evt_\ud800x"], ids=["a NUL", "a lone surrogate"]
)
def test_a_stripe_event_id_the_database_cannot_store_is_refused_with_400_and_spares_the_rest(
    client: TestClient, db: Session, event_id: str
) -> None:
    def post(event_id: str) -> tuple[int, str]:
        body = json.dumps(stripe_event("invoice.paid", "invoice", event_id=event_id)).encode()
        headers = stripe_headers(body, timestamp=int(T0.timestamp()))
        response = client.post("/webhooks/stripe", content=body, headers=headers)
        return response.status_code, response.json().get("detail", "")

    assert post(event_id) == (
        400,
        "the delivery's dedupe key "
        + ("holds a NUL character" if "\u0000" in event_id else "is not valid Unicode text"),
    )
    assert post("evt_good")[0] == 200
    assert [row.dedupe_key for row in inbox_rows(db)] == ["evt_good"]


@pytest.mark.parametrize("platform", ["woocommerce", "stripe"])
@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "body is not JSON: nested deeper than 64 levels"),
        (b"9" * 5000, "body is not JSON: an integer of more than 4300 digits"),
        (b"NaN", "body is not JSON: NaN is not a JSON number"),
        (b"1e400", "body is not JSON: a number too large to be finite"),
    ],
    ids=["nested 100,000 deep", "5,000 digits", "NaN", "1e400"],
)
def test_a_signed_body_ladder_cannot_read_is_refused_with_400_saying_why_not_500(
    client: TestClient, db: Session, platform: str, value: bytes, detail: str
) -> None:
    # The platforms whose dedupe key is in the body read it at the door.
    if platform == "woocommerce":
        document = json.dumps(woo_order()).encode()
        body = document.replace(b'"total": "29.35"', b'"total": ' + value)
        headers = woo_headers("order.created", body)
    else:
        document = json.dumps(stripe_event("invoice.paid", "invoice", event_id="evt_1")).encode()
        body = document.replace(b'"livemode": false', b'"livemode": ' + value)
        headers = stripe_headers(body, timestamp=int(T0.timestamp()))
    assert body != document

    response = client.post(f"/webhooks/{platform}", content=body, headers=headers)

    assert (response.status_code, response.json()) == (400, {"detail": detail})
    assert inbox_rows(db) == []
