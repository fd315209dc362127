"""Forgetting: a customer's personal data erased everywhere, or every customer of a shop.

What is anonymous stays (orders, their lines, counts and totals, deliveries' states, the loyalty
ledger's points); what names
a person goes: email, names, birthday, the platform ids, the personal fields of event payloads,
of provider events (SendGrid's carry the address and the IP) and of the raw webhook bodies that
mention them, and in the folders (`folders.py`) their emails in the file outbox, their export
files and what the spool holds on them. `coverage.py` says, for every table, what happens to
each column that can hold text; a test fails when a table or column is added without a line
there, so no new table is forgotten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, update
from sqlmodel import Session, col, select

from models import (
    Customer,
    CustomerExternalId,
    Delivery,
    EntryKind,
    InboxItem,
    LoyaltyEntry,
    LoyaltyFingerprint,
    LoyaltyMembership,
    ProviderEvent,
    Suppression,
)
from worker.privacy import folders
from worker.privacy.holdings import (
    BATCH,
    events_of,
    identities,
    inbox_mentioning,
    record,
    scrubbed,
)
from worker.providers import delivery_key
from worker.providers.files import FileProvider
from worker.settings import Settings


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
    deliveries = _deliveries_of(db, customer)
    delivery_ids = list(deliveries)
    _scrub_provider_events(db, delivery_ids, address)
    _scrub_delivery_reasons(db, delivery_ids, address)
    db.execute(delete(Suppression).where(col(Suppression.email).in_(names["emails"])))
    db.execute(delete(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer.id))
    # The ledger stays (its sums are the balance); only an adjustment's words may name them.
    # A donation's cause and a refusal's words are Ladder's own, and the causes' totals count
    # the donations by them.
    kept = (EntryKind.DONATE.value, EntryKind.REFUSED.value)
    db.execute(
        update(LoyaltyEntry)
        .where(col(LoyaltyEntry.customer_id) == customer.id, col(LoyaltyEntry.kind).not_in(kept))
        .values(reason=None)
    )
    # Fingerprints are digests, but of their card, browser and address: they go. Those they
    # referred no longer name them.
    db.execute(delete(LoyaltyFingerprint).where(col(LoyaltyFingerprint.customer_id) == customer.id))
    # Their membership's plan and period stay (the programme's counts); the subscription id
    # names them at Stripe: it goes.
    db.execute(
        update(LoyaltyMembership)
        .where(col(LoyaltyMembership.customer_id) == customer.id)
        .values(subscription_id=None)
    )
    db.execute(
        update(Customer).where(col(Customer.referred_by) == address).values(referred_by=None)
    )
    folders.remove_exports(db, customer, settings.exports_dir)
    folders.remove_outbox_files(
        FileProvider(settings.outbox_dir), list(deliveries.values()), address
    )
    folders.scrub_spool(settings.spool_dir, names)
    customer.email = placeholder
    customer.first_name = customer.last_name = customer.birthday = None
    customer.birthday_set_at = None
    customer.referred_by = None
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


def _deliveries_of(db: Session, customer: Customer) -> dict[int, str]:
    """Their deliveries: id → `delivery_key` (what names a delivery's file)."""
    found = db.exec(
        select(Delivery.id, Delivery.created_at).where(col(Delivery.customer_id) == customer.id)
    )
    return {row_id: delivery_key(row_id, at) for row_id, at in found if row_id is not None}


def _scrub_provider_events(db: Session, delivery_ids: list[int], address: str) -> None:
    """Provider events about their deliveries, or naming their address (also one that named
    a delivery of someone else), lose their personal fields: SendGrid's and Postmark's carry
    the address, the IP and the user agent, Postmark's the subject and a bounce's dump too. A
    scan in batches: payloads are not indexed by address."""
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
            named = address in _addresses_named(row.payload)
            if named or row.delivery_id in theirs:
                row.payload = scrubbed(row.payload)
                db.add(row)


def _addresses_named(payload: dict[str, Any]) -> set[str]:
    """The addresses an event is about: SendGrid's `email`, Postmark's `Email` or `Recipient`."""
    return {str(payload.get(key) or "").strip().lower() for key in ("email", "Email", "Recipient")}


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
