"""What Ladder holds on a customer, wherever it is: their rows, their events (linked, or pending
and naming their email), the raw webhooks that mention them; and the record of each request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, and_, col, or_, select

from models import (
    Attribution,
    Customer,
    CustomerExternalId,
    Delivery,
    Event,
    EventStatus,
    InboxItem,
    LadderMove,
    LoyaltyEntry,
    LoyaltyFingerprint,
    LoyaltyMember,
    LoyaltyMembership,
    LoyaltyReward,
    Order,
    OrderLine,
    PrivacyRecord,
    SweepstakeEntry,
)

# Inbox rows read at a time when looking for the ones that mention a customer.
BATCH = 500


def find_customer(
    db: Session,
    source: str,
    external_id: str | None,
    email: str | None,
    *,
    account: ColumnElement[bool] | None = None,
) -> Customer | None:
    """The customer a request names, by platform id, else by email.

    With `account` (which of the platform's ids belong to the requesting shop), a request
    reaches only that shop's customers: an id must be one of its own, and a customer found by
    email must hold no id of the platform from another shop.
    """
    if external_id is not None:
        query = (
            select(Customer)
            .join(CustomerExternalId, col(CustomerExternalId.customer_id) == col(Customer.id))
            .where(
                col(CustomerExternalId.source) == source,
                col(CustomerExternalId.external_id) == external_id,
            )
        )
        found = db.exec(query if account is None else query.where(account)).first()
        if found is not None:
            return found
    if not email:
        return None
    customer = db.exec(select(Customer).where(col(Customer.email) == email.strip().lower())).first()
    if customer is None or account is None:
        return customer
    elsewhere = db.exec(
        select(CustomerExternalId.id).where(
            col(CustomerExternalId.customer_id) == customer.id,
            col(CustomerExternalId.source) == source,
            ~account,
        )
    ).first()
    return customer if elsewhere is None else None


def record(
    db: Session,
    kind: str,
    source: str,
    customer_id: int | None,
    reference: str | None,
    *,
    now: datetime,
    path: str | None = None,
    account: str | None = None,
) -> None:
    db.add(
        PrivacyRecord(
            kind=kind,
            source=source,
            customer_id=customer_id,
            reference=(reference or None) and reference[:128],
            path=path,
            account=account,
            created_at=now,
        )
    )


def carried_out(db: Session, kind: str, source: str, reference: str) -> bool:
    """True if a request of this kind and reference from `source` was carried out before."""
    return (
        db.exec(
            select(PrivacyRecord.id).where(
                col(PrivacyRecord.kind) == kind,
                col(PrivacyRecord.source) == source,
                col(PrivacyRecord.reference) == reference[:128],
            )
        ).first()
        is not None
    )


def external_ids(db: Session, customer: Customer) -> list[CustomerExternalId]:
    return list(
        db.exec(
            select(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer.id)
        )
    )


def identities(db: Session, customer: Customer) -> dict[str, set[str]]:
    """What names this customer in a raw payload: their email and their platform ids."""
    return {
        "emails": {customer.email.lower()},
        "ids": {row.external_id for row in external_ids(db, customer)},
    }


def orders(db: Session, customer: Customer) -> list[dict[str, Any]]:
    placed = db.exec(select(Order).where(col(Order.customer_id) == customer.id))
    return [
        {
            **order.model_dump(mode="json", warnings=False),
            "lines": [
                line.model_dump(mode="json", warnings=False)
                for line in db.exec(select(OrderLine).where(col(OrderLine.order_id) == order.id))
            ],
        }
        for order in placed
    ]


def loyalty(db: Session, customer: Customer) -> dict[str, Any] | None:
    """Their loyalty balances and tier, every entry of their ledger, their rewards (with the
    codes, and the reason of any refused) and the fingerprints kept of their orders (digests);
    None if not a member."""
    member = db.get(LoyaltyMember, customer.id)
    if member is None:
        return None
    entries = db.exec(
        select(LoyaltyEntry)
        .where(col(LoyaltyEntry.customer_id) == customer.id)
        .order_by(col(LoyaltyEntry.id))
    )
    rewards = db.exec(
        select(LoyaltyReward)
        .where(col(LoyaltyReward.customer_id) == customer.id)
        .order_by(col(LoyaltyReward.id))
    )
    entered = db.exec(
        select(SweepstakeEntry)
        .where(col(SweepstakeEntry.customer_id) == customer.id)
        .order_by(col(SweepstakeEntry.id))
    )
    fingerprints = db.exec(
        select(LoyaltyFingerprint)
        .where(col(LoyaltyFingerprint.customer_id) == customer.id)
        .order_by(col(LoyaltyFingerprint.id))
    )
    return {
        **member.model_dump(mode="json", warnings=False),
        "ledger": [entry.model_dump(mode="json", warnings=False) for entry in entries],
        "rewards": [reward.model_dump(mode="json", warnings=False) for reward in rewards],
        "sweepstake_entries": [row.model_dump(mode="json", warnings=False) for row in entered],
        "fingerprints": [
            {"kind": row.kind, "digest": row.digest, "created_at": row.created_at.isoformat()}
            for row in fingerprints
        ],
    }


def membership(db: Session, customer: Customer) -> dict[str, Any] | None:
    """Their paid membership (plan, status, period, the Stripe subscription); None if none."""
    row = db.get(LoyaltyMembership, customer.id)
    return None if row is None else row.model_dump(mode="json", warnings=False)


def attributions(db: Session, customer: Customer) -> list[Attribution]:
    """Which email each of their orders is credited to (`worker/measurement`)."""
    return list(db.exec(select(Attribution).where(col(Attribution.customer_id) == customer.id)))


def ladder_moves(db: Session, customer: Customer) -> list[LadderMove]:
    """Their moves between the ladder's rungs (`worker/measurement/rungs.py`)."""
    found = select(LadderMove).where(col(LadderMove.customer_id) == customer.id)
    return list(db.exec(found.order_by(col(LadderMove.version))))


def deliveries(db: Session, customer: Customer) -> list[Delivery]:
    return list(db.exec(select(Delivery).where(col(Delivery.customer_id) == customer.id)))


def events_of(db: Session, customer: Customer, *, include_failed: bool = False) -> list[Event]:
    """Their events, and pending ones not yet linked whose payload names their email (and
    failed ones, never linked, with `include_failed`: forgetting reaches those too)."""
    unlinked = [EventStatus.PENDING, *([EventStatus.FAILED] if include_failed else [])]
    found = db.exec(
        select(Event).where(
            or_(
                col(Event.customer_id) == customer.id,
                and_(col(Event.customer_id).is_(None), col(Event.status).in_(unlinked)),
            )
        )
    )
    email = customer.email.lower()
    return [
        event
        for event in found
        if event.customer_id == customer.id
        or str((event.payload.get("customer") or {}).get("email", "")).lower() == email
    ]


def inbox_mentioning(
    db: Session, customer: Customer, names: dict[str, set[str]]
) -> Iterator[tuple[InboxItem, Any]]:
    """Inbox rows whose raw body names the customer, with the body parsed (None if not JSON).

    A scan in batches: raw bodies are not indexed by person, and privacy requests are rare.
    """
    del customer
    last = 0
    while batch := list(
        db.exec(
            select(InboxItem)
            .where(col(InboxItem.id) > last)
            .order_by(col(InboxItem.id))
            .limit(BATCH)
        )
    ):
        last = batch[-1].id or last
        for row in batch:
            document = parsed(row.body)
            if mentions(row.body, document, names):
                yield row, document


def parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def mentions(body: bytes, document: Any, names: dict[str, set[str]]) -> bool:
    """True if a raw body names the customer: their email anywhere, or their platform id."""
    text = body.decode("utf-8", "replace").lower()
    if any(email in text for email in names["emails"]):
        return True
    return document is not None and bool(_customer_ids(document) & names["ids"])


def _customer_ids(document: Any) -> set[str]:
    """Every customer id a payload names: `customer_id` fields and `customer.id`."""
    found: set[str] = set()
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("customer_id") not in (None, 0, ""):
                found.add(str(item["customer_id"]))
            customer = item.get("customer")
            if isinstance(customer, dict) and customer.get("id") is not None:
                found.add(str(customer["id"]))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# Keys whose values name, reach or locate a person (or open their order page), in any payload.
PERSONAL_KEYS = frozenset(
    {
        "email", "contact_email", "email_address", "customer_email", "receipt_email",
        "first_name", "last_name", "name", "phone", "address", "address1", "address2",
        "address_1", "address_2", "city", "zip", "postcode", "province", "company", "latitude",
        "longitude", "browser_ip", "customer_ip_address", "customer_user_agent", "note",
        "customer_note", "username", "avatar_url", "billing_address", "shipping_address",
        "default_address", "addresses", "billing", "shipping", "customer_details",
        "client_details", "note_attributes", "order_status_url", "abandoned_checkout_url",
        "landing_site", "referring_site",
        # SendGrid's events: where it was opened from, the link clicked (it may carry a
        # token), and the receiving server's words (they often quote the address).
        "ip", "useragent", "url", "reason", "response",
        # Postmark's records: the address, the server's words and the bounce's dump (they
        # quote it), the subject we wrote for them, where an open came from, the link clicked.
        "Email", "Recipient", "Description", "Details", "Content", "Subject", "UserAgent",
        "Geo", "Client", "OS", "OriginalLink",
    }
)  # fmt: skip


def scrubbed(document: Any) -> Any:
    """The payload with every personal field set to null, the rest (amounts, products) kept."""
    if isinstance(document, dict):
        return {
            key: None if key in PERSONAL_KEYS else scrubbed(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [scrubbed(item) for item in document]
    return document
