"""Stripe: `Stripe-Signature` with a timestamp, read into membership events for paid programmes.

A subscription or an invoice names the customer only by Stripe id; the email that makes them a
Ladder customer arrives with `checkout.session.completed` (or an invoice's `customer_email`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from models import InboxItem
from worker.canonical import CanonicalEvent
from worker.settings import Settings
from worker.sources import (
    Ignored,
    Normalised,
    Rejected,
    Unreadable,
    Verified,
    Waiting,
    is_known_customer,
    json_object,
    payload_of,
    storable,
    text_id,
)

NAME = "stripe"
EVENT_TYPES = {
    "checkout.session.completed": "checkout.completed",
    "invoice.paid": "membership.paid",
    "customer.subscription.created": "membership.started",
    "customer.subscription.updated": "membership.updated",
    "customer.subscription.deleted": "membership.ended",
}
# The `object` each event type carries: a type is signed with its object, checked all the same.
OBJECTS = {
    "checkout.session.completed": "checkout.session",
    "invoice.paid": "invoice",
    "customer.subscription.created": "subscription",
    "customer.subscription.updated": "subscription",
    "customer.subscription.deleted": "subscription",
}
# What each event keeps from its object, besides the customer.
KEPT_FIELDS = (
    "id",
    "object",
    "mode",
    "status",
    "subscription",
    "amount_total",
    "amount_paid",
    "currency",
    "billing_reason",
    "cancel_at_period_end",
    "current_period_end",
    "start_date",
    "ended_at",
)


class Stripe:
    name = NAME

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, settings: Settings, now: datetime
    ) -> Verified:
        secrets = settings.webhook_secrets(NAME)
        timestamp, signatures = _parse_header(headers.get("stripe-signature", ""))
        if timestamp is None or not signatures or not secrets:
            raise Rejected(401, "missing or malformed Stripe-Signature")
        signed = str(timestamp).encode() + b"." + body
        matched = False
        for secret in secrets:  # every pair is compared: the time says nothing about which
            expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
            for given in signatures:
                matched |= hmac.compare_digest(expected, given)
        if not matched:
            raise Rejected(401, "wrong Stripe-Signature")
        if timestamp < now.timestamp() - settings.stripe_tolerance_s:
            raise Rejected(401, "Stripe-Signature timestamp outside the tolerance: a replay?")
        document = json_object(body)
        event_id, event_type = document.get("id"), document.get("type")
        if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id:
            raise Rejected(400, "a Stripe event needs a string `id` and `type`")
        if len(event_id) > 255 or len(event_type) > 128:
            raise Rejected(400, "Stripe event id or type too long")
        _check_account(document, settings)
        return storable(Verified(event_type, event_id, {"stripe-timestamp": str(timestamp)}))

    def normalise(self, db: Session, item: InboxItem, *, settings: Settings) -> Normalised:
        envelope = payload_of(item)
        canonical_type = EVENT_TYPES.get(item.topic)
        if canonical_type is None:
            raise Ignored(f"Stripe event type {item.topic!r} is not used by Ladder")
        try:
            _check_account(envelope, settings)  # a row stored before the setting, or spooled
        except Rejected as exc:
            raise Unreadable(exc.detail) from exc
        if envelope.get("type") != item.topic:
            raise Unreadable("the stored topic is not the signed event's `type`")
        obj = envelope["data"]["object"]
        if obj.get("object") != OBJECTS[item.topic]:
            raise Unreadable(f"{item.topic}: data.object.object is not {OBJECTS[item.topic]!r}")
        customer = _customer(db, obj)
        event = {
            "source": NAME,
            "id": envelope["id"],
            "type": canonical_type,
            "occurred_at": datetime.fromtimestamp(int(envelope["created"]), UTC),
            "customer": customer,
            "data": {name: obj[name] for name in KEPT_FIELDS if obj.get(name) is not None},
        }
        event["data"].update(_membership_fields(obj))
        if "currency" in event["data"]:
            event["data"]["currency"] = str(event["data"]["currency"]).upper()
        return Normalised([CanonicalEvent.model_validate(event)])


def _membership_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The period, plan and subscription a subscription or an invoice is for, where Stripe's
    API versions put them: a subscription's on itself (before 2025-03) or on its items, an
    invoice's on its first line (and its subscription under `parent` since 2025-03)."""
    found: dict[str, Any] = {}
    if obj.get("object") == "subscription":
        item = _first(obj.get("items"))
        start = obj.get("current_period_start") or item.get("current_period_start")
        end = obj.get("current_period_end") or item.get("current_period_end")
        price = item.get("price") or item.get("plan") or {}
    elif obj.get("object") == "invoice":
        line = _first(obj.get("lines"))
        period = line.get("period") or {}
        start, end = period.get("start"), period.get("end")
        price = line.get("price") or (line.get("pricing") or {}).get("price_details") or {}
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        if obj.get("subscription") is None and isinstance(parent.get("subscription"), str):
            found["subscription"] = parent["subscription"]
    else:
        return found
    plan = (price.get("id") or price.get("price")) if isinstance(price, Mapping) else None
    for name, value in (("period_start", start), ("period_end", end), ("plan", plan)):
        if value is not None:
            found[name] = value
    return found


def _first(listed: Any) -> Mapping[str, Any]:
    """The first object of a Stripe list (`{"object": "list", "data": [...]}`), {} if none."""
    data = listed.get("data") if isinstance(listed, Mapping) else None
    first = data[0] if isinstance(data, list) and data else None
    return first if isinstance(first, Mapping) else {}


def _check_account(document: Mapping[str, Any], settings: Settings) -> None:
    """Rejected(400) for an event of the other mode (test or live) than STRIPE_LIVEMODE says,
    or of a Connect account other than STRIPE_ACCOUNT: one endpoint secret may sign both."""
    livemode = document.get("livemode")
    if settings.stripe_livemode is not None and livemode is not settings.stripe_livemode:
        raise Rejected(400, "`livemode` is not the mode STRIPE_LIVEMODE accepts")
    if document.get("account") != settings.stripe_account:
        raise Rejected(400, "`account` is not the Stripe account STRIPE_ACCOUNT names")


def _parse_header(header: str) -> tuple[int | None, list[bytes]]:
    """`t=…,v1=…,v1=…` → (t, [v1 …]); other schemes (v0) are ignored, as Stripe's libraries do."""
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value.encode("ascii", "replace"))
    return timestamp, signatures


def _customer(db: Session, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Ladder customer for a Stripe object, or Unreadable while only an unknown id names it."""
    customer_id = obj.get("customer")
    if isinstance(customer_id, Mapping):  # an expanded customer object
        customer_id = customer_id.get("id")
    external_id = text_id(customer_id)
    details = obj.get("customer_details") or {}
    email = details.get("email") or obj.get("customer_email")
    if email:
        return {"id": external_id, "email": email} if external_id else {"email": email}
    if external_id is None:
        raise Ignored("no customer on this Stripe object")
    if not is_known_customer(db, NAME, external_id):
        raise Waiting(
            f"Stripe customer {external_id} is not known yet and this event has no email "
            "(it comes with their checkout.session.completed)"
        )
    return {"id": external_id}


source = Stripe()
