"""WooCommerce: HMAC-signed webhooks; paid, fulfilled, cancelled and refunded read off the status.

WooCommerce has only `order.created` and `order.updated`, sends the whole order each time and
never retries. Each state an order reaches becomes one canonical event with an id of its own
(`order:727:paid`), so however many updates repeat it, it is stored once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import Session

from models import InboxItem
from worker.canonical import CanonicalEvent
from worker.settings import Settings
from worker.sources import (
    Ignored,
    Normalised,
    Rejected,
    Verified,
    base64_hmac_matches,
    discount_codes,
    header_subset,
    joined,
    json_object,
    parse_time,
    payload_of,
    storable,
    text_id,
)
from worker.sources.shapes import Shape

NAME = "woocommerce"
KEPT_HEADERS = (
    "x-wc-webhook-topic",
    "x-wc-webhook-resource",
    "x-wc-webhook-event",
    "x-wc-webhook-id",
    "x-wc-webhook-delivery-id",
    "x-wc-webhook-source",
)
# The unsigned request WooCommerce sends when a webhook is created or saved.
PING = re.compile(rb"webhook_id=\d{1,20}")
PAID_STATUSES = ("processing", "completed")
# The signature covers the body, not X-WC-Webhook-Topic: a body must be of its topic's resource.
ORDER = Shape(
    "an order",
    frozenset({"id", "status", "total", "currency", "line_items", "order_key", "date_created_gmt"}),
    frozenset({"username", "role", "email"}),
)
CUSTOMER = Shape(
    "a customer",
    frozenset({"id", "email", "username", "role", "date_created_gmt"}),
    frozenset({"line_items", "order_key", "total", "status", "customer_id"}),
)


class WooCommerce:
    name = NAME

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        settings: Settings,
        now: datetime,  # noqa: ARG002  (WooCommerce signs no timestamp)
    ) -> Verified:
        signature = headers.get("x-wc-webhook-signature")
        if signature is None and PING.fullmatch(body):
            return Verified("ping", "", is_ping=True)
        if not base64_hmac_matches(body, signature, settings.webhook_secrets(NAME)):
            raise Rejected(401, "missing or wrong X-WC-Webhook-Signature")
        topic = headers.get("x-wc-webhook-topic", "").strip()
        if not topic or len(topic) > 128:
            raise Rejected(400, "X-WC-Webhook-Topic is required")
        document = json_object(body)
        return storable(
            Verified(
                topic, _dedupe_key(topic, document, body), header_subset(headers, KEPT_HEADERS)
            )
        )

    def normalise(
        self,
        db: Session,  # noqa: ARG002
        item: InboxItem,
        *,
        settings: Settings,  # noqa: ARG002
    ) -> Normalised:
        payload = payload_of(item)
        if item.topic in ("order.created", "order.updated"):
            ORDER.check(item.topic, payload)
            return Normalised(_order_events(payload))
        if item.topic in ("customer.created", "customer.updated"):
            CUSTOMER.check(item.topic, payload)
            return Normalised([_customer_event(item.topic, payload)])
        raise Ignored(f"WooCommerce topic {item.topic!r} is not used by Ladder")


def _dedupe_key(topic: str, document: Mapping[str, Any], body: bytes) -> str:
    """No delivery id survives a resend, so: topic, resource id and its modification time."""
    resource, modified = document.get("id"), document.get("date_modified_gmt")
    if resource is None or modified is None:
        return f"{topic}:sha256:{hashlib.sha256(body).hexdigest()}"
    return f"{topic}:{resource}:{modified}"[:255]


def _customer(order: Mapping[str, Any]) -> dict[str, Any]:
    billing = order.get("billing") or {}
    customer = {
        "id": text_id(order.get("customer_id")),  # 0 for a guest checkout
        "email": billing.get("email") or None,
        "first_name": billing.get("first_name") or None,
        "last_name": billing.get("last_name") or None,
    }
    if not customer["email"] and not customer["id"]:
        raise Ignored("an order without a billing email: Ladder has no one to write to")
    return {key: value for key, value in customer.items() if value is not None}


def _lines(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "product_id": text_id(line.get("product_id")),
            "title": line.get("name") or "(untitled)",
            "quantity": line["quantity"],
            "price": _unit_price(line),
        }
        for line in order.get("line_items") or []
        if line.get("quantity", 0) >= 1
    ]


def _fingerprints(order: Mapping[str, Any]) -> dict[str, str] | None:
    """The browser (IP and user agent) and the shipping address, for fair play; digested by
    the canonical order before anything is stored. WooCommerce sends nothing of the card."""
    shipping = order.get("shipping") or {}
    found = {
        "device": joined(order, "customer_ip_address", "customer_user_agent"),
        "address": joined(shipping, "address_1", "postcode", "country"),
    }
    kept = {kind: value for kind, value in found.items() if value}
    return kept or None


def _unit_price(line: Mapping[str, Any]) -> Decimal:
    """`price` is the unit price after discounts, a JSON number that may not terminate
    (10 / 3); older payloads carry only the line total."""
    if line.get("price") is not None:
        price = Decimal(str(line["price"]))
    else:
        price = Decimal(str(line["total"])) / Decimal(line["quantity"])
    return price.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def _reached(order: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The canonical states this order has reached, each with when it reached it."""
    status, modified = order.get("status"), order.get("date_modified_gmt")
    reached: list[tuple[str, Any]] = [("placed", order.get("date_created_gmt"))]
    if status in PAID_STATUSES and order.get("date_paid_gmt"):
        reached.append(("paid", order["date_paid_gmt"]))
    if status == "completed":
        reached.append(("fulfilled", order.get("date_completed_gmt") or modified))
    if status in ("cancelled", "refunded"):  # "refunded": in full (its refunds are listed too)
        reached.append((status, modified))
    return reached


def _refunds(order: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each refund the order lists (`refunds`: id and a negative `total`), as (event id part,
    the canonical refund): a partial refund leaves the status as it was, so only this says it."""
    found = []
    for refund in order.get("refunds") or []:
        if isinstance(refund, Mapping) and refund.get("id") is not None:
            amount = abs(Decimal(str(refund.get("total") or 0)))
            found.append((f"refund:{refund['id']}", {"id": str(refund["id"]), "amount": amount}))
    return found


def _order_events(order: dict[str, Any]) -> list[CanonicalEvent]:
    customer = _customer(order)
    created = parse_time(order.get("date_created_gmt"))
    canonical_order = {
        "id": str(order["id"]),
        "total": order["total"],
        "currency": order["currency"],
        "placed_at": created,  # the order's own time, whichever state is seen first
        "lines": _lines(order),
        "discount_codes": discount_codes(order.get("coupon_lines")),
        "fingerprints": _fingerprints(order),
    }
    data = {"status": order.get("status"), "number": order.get("number")}
    told: list[tuple[str, str, Any, dict[str, Any]]] = [
        (state, state, when, canonical_order) for state, when in _reached(order)
    ]
    modified = order.get("date_modified_gmt")
    told += [
        (part, "refunded", modified, {**canonical_order, "refund": refund})
        for part, refund in _refunds(order)
    ]
    return [
        CanonicalEvent.model_validate(
            {
                "source": NAME,
                "id": f"order:{order['id']}:{part}",
                "type": f"order.{state}",
                "occurred_at": parse_time(when, default=created),
                "customer": customer,
                "order": told_order,
                "data": data,
            }
        )
        for part, state, when, told_order in told
    ]


def _customer_event(topic: str, payload: dict[str, Any]) -> CanonicalEvent:
    if not payload.get("email"):
        raise Ignored("a customer without an email address: Ladder has no one to write to")
    kind = topic.split(".")[1]  # created | updated
    modified = payload.get("date_modified_gmt") or payload.get("date_created_gmt")
    customer = {
        "id": text_id(payload.get("id")),
        "email": payload["email"],
        "first_name": payload.get("first_name") or None,
        "last_name": payload.get("last_name") or None,
    }
    return CanonicalEvent.model_validate(
        {
            "source": NAME,
            "id": f"customer:{payload.get('id')}:{kind}:{modified}",
            "type": f"customer.{kind}",
            "occurred_at": parse_time(modified),
            "customer": {key: value for key, value in customer.items() if value is not None},
        }
    )


source = WooCommerce()
