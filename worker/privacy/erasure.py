"""Forgetting: a customer's personal data erased everywhere, or every customer of a shop.

What is anonymous stays (orders, their lines, counts and totals, deliveries' states); what names
a person goes: email, names, birthday, the platform ids, the personal fields of event payloads
and of the raw webhook bodies that mention them, and their export files.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from models import Customer, CustomerExternalId, InboxItem, PrivacyRecord, Suppression
from worker.privacy.holdings import events_of, identities, inbox_mentioning, record

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


def forget(
    db: Session, customer: Customer, *, source: str, reference: str | None, now: datetime
) -> None:
    """Erases `customer`'s personal data everywhere in the database, and their export files."""
    names = identities(db, customer)
    for row, document in inbox_mentioning(db, customer, names):
        row.body = b"" if document is None else json.dumps(_scrubbed(document)).encode()
        row.headers = {**row.headers, "ladder-redacted-at": now.isoformat()}
        db.add(row)
    for event in events_of(db, customer):
        event.payload = {**event.payload, "customer": {"email": _placeholder(customer)}, "data": {}}
        db.add(event)
    db.execute(delete(Suppression).where(col(Suppression.email).in_(names["emails"])))
    db.execute(delete(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer.id))
    _remove_exports(db, customer)
    customer.email = _placeholder(customer)
    customer.first_name = customer.last_name = customer.birthday = None
    customer.accepts_marketing = False
    db.add(customer)
    record(db, "forget", source, customer.id, reference, now=now)
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
    record(db, "shop_redact", source, None, reference, now=now)
    return len(ids)


def _placeholder(customer: Customer) -> str:
    return f"forgotten-{customer.id}@invalid"


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
