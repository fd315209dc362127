"""Privacy requests: a customer's data exported, a customer or a whole shop forgotten.

Forgetting keeps what is anonymous (orders, their lines, counts and totals, deliveries' states)
and erases what names a person: email, names, birthday, the platform ids, the personal fields of
event payloads and of the raw webhook bodies that mention them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, or_, select

from models import (
    Customer,
    CustomerExternalId,
    Delivery,
    Event,
    EventStatus,
    InboxItem,
    Order,
    OrderLine,
    PrivacyRecord,
    Suppression,
)
from worker.sources import PrivacyRequest

logger = logging.getLogger(__name__)

BATCH = 500
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
    }
)  # fmt: skip


def carry_out(
    db: Session,
    source: str,
    requests: Sequence[PrivacyRequest],
    *,
    now: datetime,
    exports_dir: Path,
) -> None:
    """Carries out each request inside the caller's transaction (the caller commits)."""
    for request in requests:
        if request.kind == "shop_redact":
            forget_source(db, source, now=now, reference=request.reference)
            continue
        customer = find_customer(db, source, request.external_id, request.email)
        if customer is None:
            logger.info("privacy %s from %s: no such customer held", request.kind, source)
            _record(db, request.kind, source, None, request.reference, now=now)
        elif request.kind == "export":
            export(
                db, customer, source=source, reference=request.reference, now=now, into=exports_dir
            )
        else:
            forget(db, customer, source=source, reference=request.reference, now=now)


def find_customer(
    db: Session, source: str, external_id: str | None, email: str | None
) -> Customer | None:
    if external_id is not None:
        found = db.exec(
            select(Customer)
            .join(CustomerExternalId, col(CustomerExternalId.customer_id) == col(Customer.id))
            .where(
                col(CustomerExternalId.source) == source,
                col(CustomerExternalId.external_id) == external_id,
            )
        ).first()
        if found is not None:
            return found
    if email:
        return db.exec(select(Customer).where(col(Customer.email) == email.strip().lower())).first()
    return None


def export(
    db: Session,
    customer: Customer,
    *,
    source: str,
    reference: str | None,
    now: datetime,
    into: Path,
) -> Path:
    """Writes everything held on `customer` as JSON (mode 0600) and records that it was made."""
    document = {
        "produced_at": now.isoformat(),
        "customer": customer.model_dump(mode="json", warnings=False),
        "platform_ids": [
            row.model_dump(mode="json", warnings=False) for row in _external_ids(db, customer)
        ],
        "orders": _orders(db, customer),
        "events": [e.model_dump(mode="json", warnings=False) for e in _events_of(db, customer)],
        "deliveries": [
            d.model_dump(mode="json", warnings=False) for d in _deliveries(db, customer)
        ],
        "webhooks": [
            {
                "id": row.id,
                "source": row.source,
                "topic": row.topic,
                "received_at": str(row.received_at),
                "body": row.body.decode("utf-8", "replace"),
            }
            for row, _ in _inbox_mentioning(db, customer, _identities(db, customer))
        ],
    }
    into.mkdir(parents=True, exist_ok=True)
    path = into / f"customer-{customer.id}-{now:%Y%m%dT%H%M%S}.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2, default=str)
    _record(db, "export", source, customer.id, reference, now=now, path=str(path))
    return path


def forget(
    db: Session, customer: Customer, *, source: str, reference: str | None, now: datetime
) -> None:
    """Erases `customer`'s personal data everywhere in the database, and their export files."""
    identities = _identities(db, customer)
    for row, document in _inbox_mentioning(db, customer, identities):
        row.body = b"" if document is None else json.dumps(_scrubbed(document)).encode()
        row.headers = {**row.headers, "ladder-redacted-at": now.isoformat()}
        db.add(row)
    for event in _events_of(db, customer):
        event.payload = {**event.payload, "customer": {"email": _placeholder(customer)}, "data": {}}
        db.add(event)
    db.execute(delete(Suppression).where(col(Suppression.email).in_(identities["emails"])))
    db.execute(delete(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer.id))
    _remove_exports(db, customer)
    customer.email = _placeholder(customer)
    customer.first_name = customer.last_name = customer.birthday = None
    customer.accepts_marketing = False
    db.add(customer)
    _record(db, "forget", source, customer.id, reference, now=now)
    db.flush()


def forget_source(db: Session, source: str, *, now: datetime, reference: str | None) -> int:
    """Forgets every customer a platform told Ladder about (shop/redact). Returns how many."""
    ids = list(
        db.exec(
            select(CustomerExternalId.customer_id)
            .where(col(CustomerExternalId.source) == source)
            .distinct()
        )
    )
    for customer_id in ids:
        customer = db.get(Customer, customer_id)
        if customer is not None:
            forget(db, customer, source=source, reference=reference, now=now)
    db.execute(
        update(InboxItem).where(col(InboxItem.source) == source).values(body=b"", headers={})
    )
    _record(db, "shop_redact", source, None, reference, now=now)
    return len(ids)


def _placeholder(customer: Customer) -> str:
    return f"forgotten-{customer.id}@invalid"


def _record(
    db: Session,
    kind: str,
    source: str,
    customer_id: int | None,
    reference: str | None,
    *,
    now: datetime,
    path: str | None = None,
) -> None:
    db.add(
        PrivacyRecord(
            kind=kind,
            source=source,
            customer_id=customer_id,
            reference=(reference or None) and reference[:128],
            path=path,
            created_at=now,
        )
    )


def _external_ids(db: Session, customer: Customer) -> list[CustomerExternalId]:
    return list(
        db.exec(
            select(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer.id)
        )
    )


def _identities(db: Session, customer: Customer) -> dict[str, set[str]]:
    """What names this customer in a raw payload: their email and their platform ids."""
    return {
        "emails": {customer.email.lower()},
        "ids": {row.external_id for row in _external_ids(db, customer)},
    }


def _orders(db: Session, customer: Customer) -> list[dict[str, Any]]:
    orders = db.exec(select(Order).where(col(Order.customer_id) == customer.id))
    return [
        {
            **order.model_dump(mode="json", warnings=False),
            "lines": [
                line.model_dump(mode="json", warnings=False)
                for line in db.exec(select(OrderLine).where(col(OrderLine.order_id) == order.id))
            ],
        }
        for order in orders
    ]


def _deliveries(db: Session, customer: Customer) -> list[Delivery]:
    return list(db.exec(select(Delivery).where(col(Delivery.customer_id) == customer.id)))


def _events_of(db: Session, customer: Customer) -> list[Event]:
    """Their events, and pending ones not yet linked whose payload names their email."""
    found = db.exec(
        select(Event).where(
            or_(col(Event.customer_id) == customer.id, col(Event.status) == EventStatus.PENDING)
        )
    )
    email = customer.email.lower()
    return [
        event
        for event in found
        if event.customer_id == customer.id
        or str((event.payload.get("customer") or {}).get("email", "")).lower() == email
    ]


def _inbox_mentioning(
    db: Session, customer: Customer, identities: dict[str, set[str]]
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
            document = _parsed(row.body)
            if _mentions(row.body, document, identities):
                yield row, document


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _mentions(body: bytes, document: Any, identities: dict[str, set[str]]) -> bool:
    text = body.decode("utf-8", "replace").lower()
    if any(email in text for email in identities["emails"]):
        return True
    return document is not None and bool(_customer_ids(document) & identities["ids"])


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


def _scrubbed(document: Any) -> Any:
    """The payload with every personal field set to null, the rest (amounts, products) kept."""
    if isinstance(document, dict):
        return {
            key: None if key in PERSONAL_KEYS else _scrubbed(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [_scrubbed(item) for item in document]
    return document


def _remove_exports(db: Session, customer: Customer) -> None:
    paths = db.exec(
        select(PrivacyRecord.path).where(
            col(PrivacyRecord.customer_id) == customer.id, col(PrivacyRecord.kind) == "export"
        )
    )
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)
