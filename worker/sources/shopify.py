"""Shopify: HMAC-signed webhooks by topic, read into canonical events and privacy requests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from models import InboxItem
from models.types import to_major, to_minor
from worker.canonical import CanonicalEvent
from worker.settings import Settings
from worker.sources import (
    Ignored,
    Normalised,
    PrivacyRequest,
    Rejected,
    Unreadable,
    Verified,
    Waiting,
    base64_hmac_matches,
    discount_codes,
    header_subset,
    joined,
    json_object_shaped,
    known_order,
    parse_time,
    payload_of,
    storable,
    text_id,
)
from worker.sources.shapes import Shape, validated

NAME = "shopify"
KEPT_HEADERS = (
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-triggered-at",
    "x-shopify-event-id",
)
ORDER_EVENTS = {
    "orders/create": "placed",
    "orders/paid": "paid",
    "orders/fulfilled": "fulfilled",
    "orders/cancelled": "cancelled",
}
# Shopify's email marketing consent states; "pending" (double opt-in unconfirmed) says nothing yet.
CONSENT_STATES = {"subscribed": True, "not_subscribed": False, "unsubscribed": False}
# The mandatory privacy topics: deduplicated on their signed body (see `verify`).
PRIVACY_TOPICS = ("customers/redact", "customers/data_request", "shop/redact")
_PRIVACY_FIELDS = frozenset(
    {"shop_id", "shop_domain", "orders_to_redact", "orders_requested", "data_request"}
)
ORDER = Shape(
    "an order",
    frozenset({"id", "order_number", "total_price", "currency", "line_items", "created_at"}),
    _PRIVACY_FIELDS | {"order_id", "email_address"},
    gid="Order",
)
REFUND = Shape(
    "a refund",
    frozenset({"id", "order_id", "transactions", "refund_line_items"}),
    _PRIVACY_FIELDS | {"line_items", "order_number", "customer"},
    gid="Refund",
)
CUSTOMER = Shape(
    "a customer",
    frozenset({"id", "email", "created_at", "updated_at"}),
    _PRIVACY_FIELDS | {"line_items", "order_number", "order_id", "customer", "token"},
    gid="Customer",
)
CONSENT = Shape(
    "a consent change",
    frozenset({"customer_id", "email_address", "email_marketing_consent"}),
    _PRIVACY_FIELDS | {"id", "line_items", "customer"},
)
CHECKOUT = Shape(
    "a checkout",
    frozenset({"token", "line_items", "total_price", "currency", "created_at"}),
    _PRIVACY_FIELDS | {"order_number", "financial_status"},
    gid="Checkout",
)


class _ShopRequest(BaseModel):
    """A privacy request's body: exactly Shopify's documented fields, so no order, customer
    or checkout body signed for another topic can pass as one (`extra="forbid"`)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    shop_id: int
    shop_domain: str = Field(min_length=1, max_length=255)


class _Person(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # `phone` too
    id: int | str
    email: str | None


class _RequestId(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: int | str


class CustomersRedact(_ShopRequest):
    customer: _Person
    orders_to_redact: list[int | str]


class CustomersDataRequest(_ShopRequest):
    customer: _Person
    orders_requested: list[int | str]
    data_request: _RequestId


class ShopRedact(_ShopRequest):
    pass


PRIVACY_BODIES: dict[str, type[_ShopRequest]] = {
    "customers/redact": CustomersRedact,
    "customers/data_request": CustomersDataRequest,
    "shop/redact": ShopRedact,
}


class Shopify:
    name = NAME

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        settings: Settings,
        now: datetime,  # noqa: ARG002  (Shopify signs no timestamp)
    ) -> Verified:
        if not base64_hmac_matches(
            body, headers.get("x-shopify-hmac-sha256"), settings.webhook_secrets(NAME)
        ):
            raise Rejected(401, "missing or wrong X-Shopify-Hmac-Sha256")
        topic = headers.get("x-shopify-topic", "").strip()
        webhook_id = headers.get("x-shopify-webhook-id", "").strip()
        if not topic or not webhook_id or len(topic) > 128 or len(webhook_id) > 200:
            raise Rejected(400, "X-Shopify-Topic and X-Shopify-Webhook-Id are required")
        shop = headers.get("x-shopify-shop-domain", "").strip().lower()
        if settings.shopify_shop_domain is not None and shop != settings.shopify_shop_domain:
            raise Rejected(400, "X-Shopify-Shop-Domain is not the shop Ladder serves")
        json_object_shaped(body)  # the dedupe key is the header's: no need to parse the body
        # A privacy request is deduplicated on its signed body, not on the webhook id (an
        # unsigned header): the same request sent again under a new id is a repeat, never a
        # second erasure. Shopify's own retries keep both, so they are repeats either way.
        key = f"{topic}:sha256:{body_digest(body)}" if topic in PRIVACY_TOPICS else webhook_id
        return storable(Verified(topic, key, header_subset(headers, KEPT_HEADERS)))

    def normalise(self, db: Session, item: InboxItem, *, settings: Settings) -> Normalised:
        payload = payload_of(item)
        if item.topic in PRIVACY_TOPICS:
            return _privacy(item, payload, _shop_of(item, settings))
        reader = _READERS.get(item.topic)
        if reader is None:
            raise Ignored(f"Shopify topic {item.topic!r} is not used by Ladder")
        shop = _shop_of(item, settings)
        _SHAPES[item.topic].check(item.topic, payload)
        result = reader(db, item, payload)
        for event in result.events:
            event.account = shop
        return result


def body_digest(body: bytes) -> str:
    """The hex SHA-256 of a signed body: what names a privacy request, whatever its headers."""
    return hashlib.sha256(body).hexdigest()


def _shop_of(item: InboxItem, settings: Settings) -> str | None:
    """The shop a stored delivery came from (its header), checked against the configured one:
    a row stored before SHOPIFY_SHOP_DOMAIN was set, or spooled, is read under the same rule."""
    shop = str(item.headers.get("x-shopify-shop-domain", "")).strip().lower() or None
    configured = settings.shopify_shop_domain
    if configured is not None and shop not in (None, configured):
        raise Unreadable("X-Shopify-Shop-Domain is not the shop Ladder serves")
    return shop or configured


def _triggered_at(item: InboxItem) -> datetime:
    return parse_time(item.headers.get("x-shopify-triggered-at"), default=item.received_at)


def _consent(customer: Mapping[str, Any] | None) -> tuple[bool | None, str | None]:
    """(accepts_marketing, when) from a customer's `email_marketing_consent`, or from the
    `accepts_marketing` fields of API versions before 2022-04; (None, None) if it says nothing."""
    customer = customer or {}
    consent = customer.get("email_marketing_consent")
    if isinstance(consent, Mapping):
        return CONSENT_STATES.get(str(consent.get("state"))), consent.get("consent_updated_at")
    legacy = customer.get("accepts_marketing")
    if isinstance(legacy, bool):
        return legacy, customer.get("accepts_marketing_updated_at")
    return None, None


def _customer(payload: Mapping[str, Any], *, email: Any = None) -> dict[str, Any]:
    """The canonical customer from a Shopify customer object (or an order's `customer`)."""
    accepts, _ = _consent(payload)
    return {
        "id": text_id(payload.get("id")),
        "email": payload.get("email") or email,
        "first_name": payload.get("first_name"),
        "last_name": payload.get("last_name"),
        "accepts_marketing": accepts,
    }


def _set_money(owner: Mapping[str, Any], field: str, kind: str) -> Mapping[str, Any] | None:
    """`owner["<field>_set"][kind]` (`shop_money` or `presentment_money`), if Shopify sent it."""
    found = (owner.get(f"{field}_set") or {}).get(kind)
    return found if isinstance(found, Mapping) and found.get("amount") is not None else None


def _money(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order's total as the customer paid it and as the shop counts it: `total_price` in
    the shop's `currency` when they paid in it; else the `presentment_money`, with the
    `shop_money` beside it (both in `total_price_set`)."""
    paid = _set_money(order, "total_price", "presentment_money")
    shop = _set_money(order, "total_price", "shop_money")
    if paid is None or shop is None or paid.get("currency_code") == order.get("currency"):
        return {"total": order["total_price"], "currency": order["currency"]}
    shop_total = {"amount": shop["amount"], "currency": shop["currency_code"]}
    return {"total": paid["amount"], "currency": paid["currency_code"], "shop_total": shop_total}


def _paid_price(line: Mapping[str, Any], currency: str | None) -> Any:
    """The unit price in the currency the order is recorded in (`_money`)."""
    paid = _set_money(line, "price", "presentment_money")
    if paid is not None and currency is not None and paid.get("currency_code") == currency:
        return paid["amount"]
    return line["price"]


def _lines(items: list[Mapping[str, Any]], currency: str | None = None) -> list[dict[str, Any]]:
    """The lines at the prices the customer paid, in `currency` when the line says it (a
    presentment currency); else at `price`, in the shop's."""
    return [
        {
            "product_id": text_id(line.get("product_id")),
            "title": line.get("title") or line.get("name") or "(untitled)",
            "category": line.get("product_type") or None,
            "quantity": line["quantity"],
            "price": _paid_price(line, currency),
        }
        for line in items
        if line.get("quantity", 0) >= 1
    ]


def _order_event(_db: Session, item: InboxItem, order: dict[str, Any]) -> Normalised:
    kind = ORDER_EVENTS[item.topic]
    customer = _customer(order.get("customer") or {}, email=order.get("email"))
    customer["email"] = customer["email"] or order.get("contact_email")
    if customer["accepts_marketing"] is None and "buyer_accepts_marketing" in order:
        customer["accepts_marketing"] = order["buyer_accepts_marketing"]
    customer["locale"] = order.get("customer_locale")
    when = {
        "placed": order.get("created_at"),
        "paid": order.get("updated_at"),
        "fulfilled": order.get("updated_at"),
        "cancelled": order.get("cancelled_at") or order.get("updated_at"),
    }[kind]
    money = _money(order)
    event = {
        "source": NAME,
        "id": f"order:{order['id']}:{kind}",
        "type": f"order.{kind}",
        "occurred_at": parse_time(when, default=_triggered_at(item)),
        "customer": _needs_email(customer),
        "order": {
            **money,
            "id": str(order["id"]),
            # The order's own time: `paid` may arrive before `create`.
            "placed_at": parse_time(order["created_at"]),
            "lines": _lines(order.get("line_items") or [], money["currency"]),
            "discount_codes": discount_codes(order.get("discount_codes")),
            "fingerprints": _fingerprints(order),
        },
        "data": {"name": order.get("name"), "financial_status": order.get("financial_status")},
    }
    return Normalised([CanonicalEvent.model_validate(event)])


def _fingerprints(order: Mapping[str, Any]) -> dict[str, str] | None:
    """What the order says of the card, the browser and the address it ships to, for fair
    play; digested by the canonical order before anything is stored."""
    card, client = order.get("payment_details"), order.get("client_details")
    browser = {"ip": order.get("browser_ip")}
    if isinstance(client, Mapping):
        browser["user_agent"] = client.get("user_agent")
    found = {
        "payment": joined(card, "credit_card_bin", "credit_card_number", "credit_card_company"),
        "device": joined(browser, "ip", "user_agent"),
        "address": joined(order.get("shipping_address"), "address1", "zip", "country_code"),
    }
    kept = {kind: value for kind, value in found.items() if value}
    return kept or None


def _needs_email(customer: dict[str, Any]) -> dict[str, Any]:
    if not customer.get("email") and not customer.get("id"):
        raise Ignored("no customer email or id: Ladder has no one to write to")
    return {key: value for key, value in customer.items() if value is not None}


def _refund(db: Session, item: InboxItem, refund: dict[str, Any]) -> Normalised:
    order_id = str(refund["order_id"])
    found = known_order(db, NAME, order_id)
    if found is None:
        raise Waiting(f"refund for order {order_id}, which Ladder has not seen yet")
    order, customer = found
    refunded = [
        Decimal(str(tx["amount"]))
        for tx in refund.get("transactions") or []
        if tx.get("kind") == "refund" and tx.get("status") == "success"
    ]
    amount = sum(refunded, Decimal(0))
    event = {
        "source": NAME,
        "id": f"refund:{refund['id']}",
        "type": "order.refunded",
        "occurred_at": parse_time(refund.get("created_at"), default=_triggered_at(item)),
        "customer": {"email": customer.email},
        "order": {
            "id": order_id,
            "total": to_major(order.total, order.currency),
            "currency": order.currency,
            # Transactions are in the currency the customer paid in: the order's.
            "refund": {"id": str(refund["id"]), "amount": str(amount)},
        },
        "data": {
            "refund_id": str(refund["id"]),
            "amount": str(amount),
            # A partial refund is still `order.refunded`; `full` tells triggers which it was.
            "full": to_minor(amount, order.currency) >= order.total,
        },
    }
    return Normalised([CanonicalEvent.model_validate(event)])


def _customer_event(_db: Session, item: InboxItem, customer: dict[str, Any]) -> Normalised:
    kind = item.topic.split("/")[1]  # create | update
    canonical = _needs_email(_customer(customer))
    if "email" not in canonical:
        raise Ignored("a customer without an email address: Ladder has no one to write to")
    _, consent_at = _consent(customer)
    when = customer.get("updated_at") or customer.get("created_at")
    event = {
        "source": NAME,
        "id": f"{item.topic}:{item.dedupe_key}",
        "type": f"customer.{kind}d",
        "occurred_at": parse_time(consent_at or when, default=_triggered_at(item)),
        "customer": canonical,
    }
    return Normalised([CanonicalEvent.model_validate(event)])


def _consent_update(_db: Session, item: InboxItem, payload: dict[str, Any]) -> Normalised:
    accepts, consent_at = _consent(payload)
    if accepts is None:
        raise Ignored("a consent state that says neither yes nor no (pending double opt-in)")
    event = {
        "source": NAME,
        "id": f"consent:{item.dedupe_key}",
        "type": "customer.updated",
        "occurred_at": parse_time(consent_at, default=_triggered_at(item)),
        "customer": _needs_email(
            {
                "id": text_id(payload.get("customer_id")),
                "email": payload.get("email_address"),
                "accepts_marketing": accepts,
            }
        ),
        "data": {"consent": payload.get("email_marketing_consent")},
    }
    return Normalised([CanonicalEvent.model_validate(event)])


def _checkout(_db: Session, item: InboxItem, checkout: dict[str, Any]) -> Normalised:
    kind = "started" if item.topic == "checkouts/create" else "updated"
    customer = _customer(checkout.get("customer") or {}, email=checkout.get("email"))
    customer["accepts_marketing"] = None  # an unticked box at checkout withdraws nothing
    customer["locale"] = checkout.get("customer_locale")
    token = checkout.get("token") or item.dedupe_key
    event = {
        "source": NAME,
        "id": f"checkout:{token}:started"
        if kind == "started"
        else f"{item.topic}:{item.dedupe_key}",
        "type": f"checkout.{kind}",
        "occurred_at": parse_time(
            checkout.get("updated_at") or checkout.get("created_at"), default=_triggered_at(item)
        ),
        "customer": _needs_email(customer),
        "data": {
            "checkout": {
                "token": token,
                "total": checkout.get("total_price"),
                "currency": checkout.get("currency"),
                "url": checkout.get("abandoned_checkout_url"),
                "completed_at": checkout.get("completed_at"),
                "lines": _lines(checkout.get("line_items") or []),
            }
        },
    }
    return Normalised([CanonicalEvent.model_validate(event)])


def _privacy(item: InboxItem, payload: dict[str, Any], shop: str | None) -> Normalised:
    """A privacy request of exactly its topic's shape, for the shop that sent it: its body's
    `shop_domain` (signed) must be the header's and the configured shop's. An erasure's
    reference is its body's digest, so carrying it out twice is refused (`requests.carry_out`)."""
    request = validated(PRIVACY_BODIES[item.topic], item.topic, payload)
    if shop is not None and request.shop_domain.lower() != shop:
        raise Unreadable(f"a {item.topic} body's shop_domain is not the shop that sent it")
    account = request.shop_domain.lower()
    digest = body_digest(item.body)
    if isinstance(request, ShopRedact):
        shop_redact = PrivacyRequest("shop_redact", reference=digest, account=account)
        return Normalised(privacy=[shop_redact])
    assert isinstance(request, CustomersRedact | CustomersDataRequest)
    kind: Literal["export", "forget"] = "forget"
    reference = digest
    if isinstance(request, CustomersDataRequest):
        kind, reference = "export", str(request.data_request.id)
    return Normalised(
        privacy=[
            PrivacyRequest(
                kind,
                external_id=text_id(request.customer.id),
                email=request.customer.email,
                reference=reference,
                account=account,
            )
        ]
    )


Reader = Callable[[Session, InboxItem, dict[str, Any]], Normalised]
_READERS: dict[str, Reader] = {
    **dict.fromkeys(ORDER_EVENTS, _order_event),
    "refunds/create": _refund,
    "customers/create": _customer_event,
    "customers/update": _customer_event,
    "customers_email_marketing_consent/update": _consent_update,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
}
_SHAPES: dict[str, Shape] = {
    **dict.fromkeys(ORDER_EVENTS, ORDER),
    "refunds/create": REFUND,
    "customers/create": CUSTOMER,
    "customers/update": CUSTOMER,
    "customers_email_marketing_consent/update": CONSENT,
    "checkouts/create": CHECKOUT,
    "checkouts/update": CHECKOUT,
}

source = Shopify()
