"""Store platforms: the Source protocol, what verifying and reading give back, shared helpers.

A platform is one module here with a `source` object; adding one is a module and a line in
`registry.py`.
`verify` runs in the web process on the raw body and headers, before anything is stored;
`normalise` runs in the worker on a stored inbox row and gives canonical events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlmodel import Session, col, select

from models import Customer, CustomerExternalId, InboxItem, Order
from worker import hygiene
from worker.canonical import CanonicalEvent
from worker.settings import Settings


class Rejected(Exception):
    """The delivery is refused before anything is stored: 401 (signature) or 400 (malformed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Ignored(Exception):
    """A readable delivery Ladder has no use for (an unknown topic); kept, marked ignored."""


class Unreadable(Exception):
    """A delivery the code cannot read yet; kept, marked failed, replayable after a fix."""


class Waiting(Unreadable):
    """A delivery about something not seen yet (a refund before its order): left pending for the
    relay to try again later, and marked failed only after several tries."""


@dataclass(frozen=True)
class Verified:
    """A delivery whose signature holds: what to store it under."""

    topic: str
    dedupe_key: str
    headers: dict[str, str] = field(default_factory=dict)  # the platform headers worth keeping
    is_ping: bool = False  # answered 200 and not stored (WooCommerce's webhook-created ping)


@dataclass(frozen=True)
class PrivacyRequest:
    """A platform asking Ladder to export or erase what it holds on a customer, or a shop."""

    kind: Literal["export", "forget", "shop_redact"]
    external_id: str | None = None  # the platform's customer id
    email: str | None = None
    reference: str | None = None  # the platform's request id, or its signed body's digest
    account: str | None = None  # the shop it is about (its signed `shop_domain`)


@dataclass
class Normalised:
    events: list[CanonicalEvent] = field(default_factory=list)
    privacy: list[PrivacyRequest] = field(default_factory=list)


class Source(Protocol):
    name: str

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, settings: Settings, now: datetime
    ) -> Verified:
        """Raises Rejected(401) unless one of the platform's secrets signed `body`, and
        Rejected(400) for a body or headers the platform would not send."""
        ...

    def normalise(self, db: Session, item: InboxItem, *, settings: Settings) -> Normalised:
        """The canonical events in a stored delivery, once its payload has its topic's shape
        (a body is signed, its topic header is not). Raises Ignored or Unreadable (or a
        KeyError, TypeError, ValueError on a payload of an unexpected shape)."""
        ...


def storable(verified: Verified) -> Verified:
    """`verified`, or Rejected(400) if its topic or dedupe key holds a NUL or what is not
    Unicode text (a lone surrogate, from a JSON `\\ud800`): the database cannot store either."""
    for what, value in (("topic", verified.topic), ("dedupe key", verified.dedupe_key)):
        if "\x00" in value:
            raise Rejected(400, f"the delivery's {what} holds a NUL character")
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise Rejected(400, f"the delivery's {what} is not valid Unicode text") from exc
    return verified


def base64_hmac_matches(body: bytes, given: str | None, secrets: list[bytes]) -> bool:
    """True if `given` is the base64 HMAC-SHA256 of `body` under any secret (constant time)."""
    if not given or not secrets:
        return False
    given_bytes = given.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:  # every secret is tried, so the time does not say which one matched
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        matched |= hmac.compare_digest(expected, given_bytes)
    return matched


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or Rejected(400) (also for nesting, numbers and NaN that
    `hygiene.loads` refuses)."""
    try:
        document = hygiene.loads(body)
    except hygiene.NotJSON as exc:
        raise Rejected(400, f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise Rejected(400, "body is not a JSON object")
    return document


def json_object_shaped(body: bytes) -> None:
    """Rejected(400) unless the body is UTF-8 text between `{` and `}`: the shape of a JSON
    object, checked without parsing it (parsing cost a fifth of a request's CPU).

    For a platform whose dedupe key is in a signed header (Shopify): a signed body of that
    shape that still is not JSON is stored, and marked failed with the reason when normalised.
    """
    stripped = body.strip()
    if not (stripped.startswith(b"{") and stripped.endswith(b"}")):
        raise Rejected(400, "body is not a JSON object")
    try:
        stripped.decode()
    except UnicodeDecodeError as exc:
        raise Rejected(400, f"body is not UTF-8 JSON: {exc}") from exc


def payload_of(item: InboxItem) -> dict[str, Any]:
    """A stored body as a JSON object, or Unreadable (nested too deep, NaN: `hygiene.loads`)."""
    try:
        document = hygiene.loads(item.body)
    except hygiene.NotJSON as exc:
        raise Unreadable(f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise Unreadable("body is not a JSON object")
    return document


def parse_time(value: Any, *, default: datetime | None = None) -> datetime:
    """An ISO 8601 time with its offset kept; a naive one is UTC (WooCommerce's `*_gmt`)."""
    if value in (None, ""):
        if default is None:
            raise Unreadable("a time is missing")
        return default
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def text_id(value: Any) -> str | None:
    """A platform id as text; None for missing, null, 0 (WooCommerce guests) and ''."""
    if value in (None, "", 0, "0"):
        return None
    return str(value)


MAX_CODE = 255  # a discount code's longest, as `loyalty_rewards.code` keeps it


def discount_codes(found: Any) -> list[str]:
    """The codes of an order's discount list (Shopify `discount_codes`, WooCommerce
    `coupon_lines`: objects each with a `code`); entries without one are left out."""
    if not isinstance(found, list):
        return []
    codes = [item.get("code") for item in found if isinstance(item, Mapping)]
    # A code no reward could have (too long, not storable) is left out, not the order.
    return [
        code.strip()
        for code in codes
        if isinstance(code, str)
        and 0 < len(code.strip()) <= MAX_CODE
        and hygiene.text_problem(code) is None
    ][:50]


def joined(owner: Any, *names: str) -> str | None:
    """The named fields of `owner` that are set, joined with `|`; None if none is (a
    fingerprint made of what a platform sent)."""
    if not isinstance(owner, Mapping):
        return None
    parts = [str(owner.get(name)).strip() for name in names if owner.get(name)]
    joined = "|".join(part for part in parts if hygiene.text_problem(part) is None)[:500]
    return joined or None


def header_subset(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: headers[name] for name in names if name in headers}


def known_order(db: Session, source: str, order_id: str) -> tuple[Order, Customer] | None:
    """The order a platform knows as `order_id`, and its customer, if Ladder has seen it."""
    row = db.exec(
        select(Order, Customer)
        .join(Customer, col(Customer.id) == col(Order.customer_id))
        .where(col(Order.source) == source, col(Order.source_order_id) == order_id)
    ).first()
    return None if row is None else (row[0], row[1])


def is_known_customer(db: Session, source: str, external_id: str) -> bool:
    return (
        db.exec(
            select(CustomerExternalId.id).where(
                col(CustomerExternalId.source) == source,
                col(CustomerExternalId.external_id) == external_id,
            )
        ).first()
        is not None
    )
