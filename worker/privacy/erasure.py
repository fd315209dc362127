"""Forgetting: a customer's personal data erased everywhere, or every customer of a shop.

What is anonymous stays (orders, their lines, counts and totals, deliveries' states); what names
a person goes: email, names, birthday, the platform ids, the personal fields of event payloads,
of provider events (SendGrid's carry the address and the IP) and of the raw webhook bodies that
mention them, their emails in the file outbox, their export files and what the spool holds on
them. `COVERAGE` says, for every table, what happens to each column that can hold text; a test
fails when a table or column is added without a line there, so no new table is forgotten.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, update
from sqlmodel import Session, col, select

from models import (
    Customer,
    CustomerExternalId,
    Delivery,
    InboxItem,
    PrivacyRecord,
    ProviderEvent,
    Suppression,
)
from worker.privacy.holdings import (
    BATCH,
    events_of,
    identities,
    inbox_mentioning,
    mentions,
    parsed,
    record,
)
from worker.providers.files import FileProvider
from worker.settings import Settings

# A spool file still `.partial` after this long was left by a crash, not being written.
PARTIAL_AGE_S = 60.0

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
    }
)  # fmt: skip

# Every table, and what forgetting a customer does to each of its columns that can hold text
# (strings, JSON, bytes, dates). `tests/unit/test_erasure_coverage.py` fails for a table or a
# column missing here: say what erases it, or why it names nobody.
COVERAGE: dict[str, dict[str, str]] = {
    "customers": {
        "email": "replaced by forgotten-<id>@invalid",
        "first_name": "cleared",
        "last_name": "cleared",
        "birthday": "cleared",
        "locale": "kept: a language, shared by many",
        "timezone": "kept: a zone, shared by many",
        "consent_source": "kept: a platform or link name",
        "currency": "kept: a currency code",
        "rfm": "kept: a score",
        "segment": "kept: a segment name",
        "previous_segment": "kept: a segment name",
    },
    "customer_external_ids": {
        "source": "row deleted",
        "external_id": "row deleted",
        "account": "row deleted",
    },
    "events": {
        "payload": "customer replaced by the placeholder address, data emptied",
        "error": "cleared where it quotes the address",
        "source": "kept: a platform name",
        "source_event_id": "kept: the platform's event id",
        "type": "kept: an event type",
        "status": "kept: a state",
    },
    "inbox": {
        "body": "personal fields set to null (PERSONAL_KEYS); emptied if not JSON",
        "headers": "kept, with ladder-redacted-at: platform headers name no person",
        "error": "kept: reasons never quote values",
        "source": "kept: a platform name",
        "topic": "kept: a topic",
        "dedupe_key": "kept: a webhook id or a digest",
        "status": "kept: a state",
    },
    "provider_events": {
        "payload": "personal fields set to null (email, ip, useragent, url, reason …)",
        "provider": "kept: a provider name",
        "provider_event_id": "kept: the provider's event id",
        "type": "kept: an event type",
    },
    "deliveries": {
        "reason": "cleared where it quotes the address (a bounce's words)",
        "dedupe_key": "kept: trigger and event id",
        "trigger": "kept: a trigger name",
        "message": "kept: a message name",
        "variant": "kept: a template name",
        "segment": "kept: a segment name",
        "status": "kept: a state",
        "message_class": "kept: a class",
        "provider_message_id": "kept: the provider's id",
    },
    "suppressions": {"email": "row deleted", "reason": "row deleted"},
    "preferences": {"message_class": "kept: a class", "source": "kept: where it was set"},
    "privacy_records": {
        "kind": "kept: the record of the request, naming nobody",
        "source": "kept",
        "reference": "kept: the platform's request id or a digest",
        "path": "kept: names the customer id only; the file is deleted",
        "account": "kept: a shop domain",
    },
    "orders": {
        "source": "kept: anonymous aggregate",
        "source_order_id": "kept: the platform's order id",
        "status": "kept",
        "currency": "kept",
    },
    "order_lines": {
        "product_id": "kept: a product",
        "title": "kept: a product",
        "category": "kept: a product",
    },
    "product_recommendations": {
        "anchor": "kept: products, no person",
        "product_id": "kept",
        "title": "kept",
        "category": "kept",
        "currency": "kept",
    },
    "leases": {"name": "kept: a job name", "holder": "kept: a process id"},
    "sending_pauses": {"provider": "kept", "reason": "kept: the provider's refusal"},
}


def forget(
    db: Session,
    customer: Customer,
    *,
    source: str,
    reference: str | None,
    now: datetime,
    settings: Settings,
    account: str | None = None,
) -> None:
    """Erases `customer`'s personal data everywhere in the database and in Ladder's folders
    (their export files, their emails in the file outbox, the spooled deliveries naming them).

    The files go as the rows change; the caller commits. A rollback after this would leave
    files gone and rows kept, which a second `forget` completes.
    """
    names = identities(db, customer)
    address = customer.email.lower()
    placeholder = _placeholder(customer)
    for row, document in inbox_mentioning(db, customer, names):
        row.body = b"" if document is None else json.dumps(scrubbed(document)).encode()
        row.headers = {**row.headers, "ladder-redacted-at": now.isoformat()}
        db.add(row)
    for event in events_of(db, customer, include_failed=True):
        event.payload = {**event.payload, "customer": {"email": placeholder}, "data": {}}
        if event.error is not None and address in event.error.lower():
            event.error = "(erased: it quoted a forgotten address)"
        db.add(event)
    delivery_ids = _deliveries_of(db, customer)
    _scrub_provider_events(db, delivery_ids, address)
    _scrub_delivery_reasons(db, delivery_ids, address)
    db.execute(delete(Suppression).where(col(Suppression.email).in_(names["emails"])))
    db.execute(delete(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer.id))
    _remove_exports(db, customer, settings.exports_dir)
    _remove_outbox_files(FileProvider(settings.outbox_dir), delivery_ids, address)
    _scrub_spool(settings.spool_dir, names)
    customer.email = placeholder
    customer.first_name = customer.last_name = customer.birthday = None
    customer.accepts_marketing = False
    db.add(customer)
    record(db, "forget", source, customer.id, reference, now=now, account=account)
    db.flush()


def forget_account(
    db: Session,
    source: str,
    account: str,
    *,
    now: datetime,
    reference: str | None,
    settings: Settings,
    unattributed: bool,
) -> int:
    """Forgets the customers one shop (`account` of platform `source`) told Ladder about
    (shop/redact), and empties that shop's raw webhooks. Returns how many were forgotten.

    Narrow by construction: only platform ids recorded with this account are followed (and
    those recorded before accounts were, when `unattributed`: see `account_matches`). A
    customer also known to another shop of the platform keeps their row; only this shop's
    ids and webhooks go.
    """
    matches = account_matches(account, unattributed=unattributed)
    ids = list(
        db.exec(
            select(CustomerExternalId.customer_id)
            .where(col(CustomerExternalId.source) == source, matches)
            .distinct()
        )
    )
    forgotten = 0
    for customer_id in ids:
        elsewhere = db.exec(
            select(CustomerExternalId.id).where(
                col(CustomerExternalId.customer_id) == customer_id,
                col(CustomerExternalId.source) == source,
                ~matches,
            )
        ).first()
        customer = db.get(Customer, customer_id)
        if customer is None:
            continue
        if elsewhere is None:
            forget(
                db,
                customer,
                source=source,
                reference=reference,
                now=now,
                settings=settings,
                account=account,
            )
            forgotten += 1
        else:  # a customer of another shop too: this shop's links go, the person stays
            db.execute(
                delete(CustomerExternalId).where(
                    col(CustomerExternalId.customer_id) == customer_id,
                    col(CustomerExternalId.source) == source,
                    matches,
                )
            )
    for row in _inbox_of_account(db, source, account, unattributed=unattributed):
        db.execute(update(InboxItem).where(col(InboxItem.id) == row).values(body=b"", headers={}))
    record(db, "shop_redact", source, None, reference, now=now, account=account)
    return forgotten


def account_matches(account: str, *, unattributed: bool) -> ColumnElement[bool]:
    """Platform ids recorded with `account`; with `unattributed`, also those recorded before
    accounts were (migration 0006), which can only be the one shop Ladder served then."""
    recorded = col(CustomerExternalId.account) == account
    if not unattributed:
        return recorded
    return or_(recorded, col(CustomerExternalId.account).is_(None))


def _inbox_of_account(
    db: Session, source: str, account: str, *, unattributed: bool
) -> Iterator[int]:
    """The ids of the platform's inbox rows whose shop header names `account` (or none, with
    `unattributed`). A scan in batches: shop redacts are rare, headers are JSON."""
    last = 0
    while batch := list(
        db.exec(
            select(InboxItem.id, InboxItem.headers)
            .where(col(InboxItem.source) == source, col(InboxItem.id) > last)
            .order_by(col(InboxItem.id))
            .limit(BATCH)
        )
    ):
        last = batch[-1][0] or last
        for row_id, headers in batch:
            shop = _shop_header(headers)
            if row_id is not None and (shop == account or (shop is None and unattributed)):
                yield row_id


def _shop_header(headers: Mapping[str, Any]) -> str | None:
    for name in ("x-shopify-shop-domain", "x-wc-webhook-source"):
        if headers.get(name):
            return str(headers[name]).strip().lower()
    return None


def _placeholder(customer: Customer) -> str:
    return f"forgotten-{customer.id}@invalid"


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


def _deliveries_of(db: Session, customer: Customer) -> list[int]:
    found = db.exec(select(Delivery.id).where(col(Delivery.customer_id) == customer.id))
    return [row_id for row_id in found if row_id is not None]


def _scrub_provider_events(db: Session, delivery_ids: list[int], address: str) -> None:
    """Provider events about their deliveries, or naming their address (also one that named
    a delivery of someone else), lose their personal fields: SendGrid's carry the address, the
    IP and the user agent. A scan in batches: payloads are not indexed by address."""
    theirs = set(delivery_ids)
    last = 0
    while batch := list(
        db.exec(
            select(ProviderEvent)
            .where(col(ProviderEvent.id) > last)
            .order_by(col(ProviderEvent.id))
            .limit(BATCH)
        )
    ):
        last = batch[-1].id or last
        for row in batch:
            named = str(row.payload.get("email", "")).strip().lower() == address
            if named or row.delivery_id in theirs:
                row.payload = scrubbed(row.payload)
                db.add(row)


def _scrub_delivery_reasons(db: Session, delivery_ids: list[int], address: str) -> None:
    if not delivery_ids:
        return
    quoting = and_(
        col(Delivery.id).in_(delivery_ids),
        col(Delivery.reason).is_not(None),
    )
    for delivery in db.exec(select(Delivery).where(quoting)):
        if delivery.reason is not None and address in delivery.reason.lower():
            delivery.reason = delivery.reason.split(":", 1)[0] + ": (erased: it quoted the address)"
            db.add(delivery)


def _remove_exports(db: Session, customer: Customer, exports_dir: Path) -> None:
    paths = db.exec(
        select(PrivacyRecord.path).where(
            col(PrivacyRecord.customer_id) == customer.id, col(PrivacyRecord.kind) == "export"
        )
    )
    for path in paths:
        if path:
            Path(path).unlink(missing_ok=True)
    # An export whose record was rolled back (its file written first) has the same name.
    for stray in exports_dir.glob(f"customer-{customer.id}-*.json"):
        stray.unlink(missing_ok=True)


def _remove_outbox_files(outbox: FileProvider, delivery_ids: list[int], address: str) -> None:
    """Their `.eml` files, the temporary files of a send cut short, and any other file in the
    outbox that names their address (the file backend only; a small folder on a laptop)."""
    if not outbox.outbox.is_dir():
        return
    for delivery_id in delivery_ids:
        target = outbox.path_for(delivery_id)
        target.unlink(missing_ok=True)
        for partial in outbox.outbox.glob(f".{target.name}.*"):
            partial.unlink(missing_ok=True)
    needle = address.encode()
    for path in outbox.outbox.iterdir():
        if path.is_file() and needle in path.read_bytes().lower():
            path.unlink(missing_ok=True)


def _scrub_spool(spool_dir: Path, names: dict[str, set[str]]) -> None:
    """Spooled deliveries (the records `intake.spool.append` writes) that name the customer:
    their body is rewritten with the personal fields set to null, the same as a stored inbox
    row, so the delivery still reaches the inbox; an unreadable one is deleted."""
    if not spool_dir.is_dir():
        return
    for path in sorted(spool_dir.iterdir()):
        if not path.is_file():
            continue
        if path.suffix == ".partial":
            # Being written now (the web process renames it when whole), or left by a crash
            # mid-write, which the drain never reads: an old one goes if it names them.
            if time.time() - path.stat().st_mtime > PARTIAL_AGE_S and _names(path, names):
                path.unlink(missing_ok=True)
            continue
        try:
            spooled = json.loads(path.read_bytes())
            body = base64.b64decode(spooled["body"], validate=True)
        except (ValueError, KeyError, TypeError):  # damaged (.bad): never drained; it goes
            if _names(path, names):
                path.unlink(missing_ok=True)
            continue
        document = parsed(body)
        if not mentions(body, document, names):
            continue
        if document is None:
            path.unlink(missing_ok=True)
            continue
        spooled["body"] = base64.b64encode(json.dumps(scrubbed(document)).encode()).decode()
        _replace(path, json.dumps(spooled).encode())


def _names(path: Path, names: dict[str, set[str]]) -> bool:
    content = path.read_bytes().lower()
    return any(email.encode() in content for email in names["emails"])


def _replace(path: Path, content: bytes) -> None:
    """Writes `content` over `path` whole (aside, fsync'd, renamed): a spool file is a
    delivery, never half-written."""
    aside = path.with_name(f".{path.name}.forget")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    os.replace(aside, path)
