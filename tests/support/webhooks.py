"""Platform payloads from tests/fixtures and the headers that sign them, as each platform does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from worker.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SHOPIFY_SECRET = "shpss_test_secret_one"
SHOPIFY_OLD_SECRET = "shpss_test_secret_rotated_out"
WOO_SECRET = "woo-test-secret"
STRIPE_SECRET = "whsec_test_secret"
SHOP_DOMAIN = "ladder-test.myshopify.com"  # the shop the test deliveries come from


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def shopify_payload(topic: str) -> dict[str, Any]:
    """The documented example body of a Shopify topic (`orders/create` …)."""
    document = fixture(f"shopify/{topic.replace('/', '_')}.json")
    assert document["name"] == topic
    payload: dict[str, Any] = document["response"]
    if payload.get("shop_domain") == "{shop}.myshopify.com":  # the docs' placeholder, filled
        payload["shop_domain"] = SHOP_DOMAIN
    return payload


def base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_headers(
    topic: str,
    body: bytes,
    *,
    webhook_id: str = "wh-1",
    secret: str = SHOPIFY_SECRET,
    shop: str = SHOP_DOMAIN,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64_hmac(secret, body),
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Api-Version": "2026-04",
        "X-Shopify-Triggered-At": "2026-05-01T10:00:00.000000Z",
    }


def woo_order() -> dict[str, Any]:
    payload: dict[str, Any] = fixture("woocommerce/wp-api-v3_orders_create-an-order_response.json")
    return payload


def woo_customer() -> dict[str, Any]:
    payload: dict[str, Any] = fixture(
        "woocommerce/wp-api-v3_customers_create-a-customer_response.json"
    )
    return payload


def woo_headers(topic: str, body: bytes, *, secret: str = WOO_SECRET) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": base64_hmac(secret, body),
        "X-WC-Webhook-ID": "3",
        "X-WC-Webhook-Source": "https://shop.example/",
    }


@cache
def _stripe_resources() -> dict[str, Any]:
    resources: dict[str, Any] = fixture("stripe/fixtures3.json")["resources"]
    return resources


def stripe_event(
    event_type: str, resource: str, *, event_id: str, **changes: Any
) -> dict[str, Any]:
    """Stripe's fixture Event envelope around the fixture object `resource`, with `changes`."""
    envelope = json.loads(json.dumps(_stripe_resources()["event"]))
    envelope.update(id=event_id, type=event_type)
    envelope["data"] = {"object": {**_stripe_resources()[resource], **changes}}
    assert isinstance(envelope, dict)
    return envelope


def stripe_headers(body: bytes, *, timestamp: int, secret: str = STRIPE_SECRET) -> dict[str, str]:
    signed = str(timestamp).encode() + b"." + body
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"}


def with_secrets(settings: Settings, **changes: object) -> Settings:
    """`settings` with the test secrets of the three platforms (two for Shopify and Stripe)."""
    return settings.model_copy(
        update={
            "shopify_webhook_secrets": SecretStr(f"{SHOPIFY_SECRET}, {SHOPIFY_OLD_SECRET}"),
            "woocommerce_webhook_secrets": SecretStr(WOO_SECRET),
            "stripe_webhook_secrets": SecretStr(f"whsec_new_one,{STRIPE_SECRET}"),
            **changes,
        }
    )


def rows(db: Session, statement: SelectOfScalar[Any]) -> list[Any]:
    """The rows, read fresh and detached, with the read transaction ended (SQLite's write lock)."""
    db.expire_all()
    found = list(db.exec(statement).all())
    db.expunge_all()
    db.rollback()
    return found


def one(db: Session, statement: SelectOfScalar[Any]) -> Any:
    [row] = rows(db, statement)
    return row
