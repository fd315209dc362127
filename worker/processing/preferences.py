"""What a customer wants: mail preferences per message class, consent, suppressed addresses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session, col

from models import Customer, Preference
from models.db import insert_ignoring_duplicates
from models.tables import PREFERENCES, SUPPRESSIONS

MESSAGE_CLASSES = ("marketing", "transactional")


def preferences_of(db: Session, customer_id: int) -> dict[str, bool]:
    """Message class → wanted, for every class (no row: wanted)."""
    rows = db.execute(
        select(col(Preference.message_class), col(Preference.opted_out)).where(
            col(Preference.customer_id) == customer_id
        )
    ).all()
    opted_out = {str(message_class): bool(out) for message_class, out in rows}
    return {name: not opted_out.get(name, False) for name in MESSAGE_CLASSES}


def set_preference(
    db: Session, customer: Customer, message_class: str, *, wanted: bool, source: str, now: datetime
) -> None:
    """Records the customer's choice for one class; leaving marketing also withdraws marketing
    consent, with when and how. The caller commits."""
    values = {"opted_out": not wanted, "source": source, "changed_at": now}
    insert_ignoring_duplicates(
        db,
        PREFERENCES,
        [{"customer_id": customer.id, "message_class": message_class, **values}],
        PREFERENCES.c.id,
    )
    db.execute(
        update(Preference)
        .where(
            col(Preference.customer_id) == customer.id,
            col(Preference.message_class) == message_class,
        )
        .values(values)
    )
    if message_class == "marketing" and not wanted:
        customer.accepts_marketing = False
        customer.consent_changed_at = now
        customer.consent_source = source
        db.add(customer)


def suppress(db: Session, email: str, reason: str, *, now: datetime) -> bool:
    """Puts the address on the suppression list (no mail of any class); the first reason stays.
    Returns False if it was already there. The caller commits."""
    inserted = insert_ignoring_duplicates(
        db,
        SUPPRESSIONS,
        [{"email": email, "reason": reason[:64], "created_at": now}],
        SUPPRESSIONS.c.id,
    )
    return bool(inserted)
