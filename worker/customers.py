"""Finds or creates the customer an event is about, and keeps their derived facts current."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import Customer, CustomerExternalId, Order
from models.db import insert_ignoring_duplicates, insert_new
from models.orders import UNCOUNTED_STATUSES
from worker.addresses import suppress_if_invalid
from worker.canonical import CustomerIn
from worker.errors import PermanentError

_PROFILE_FIELDS = ("first_name", "last_name", "locale", "timezone", "birthday")


def resolve_customer(
    db: Session, source: str, incoming: CustomerIn, *, occurred_at: datetime
) -> Customer:
    """The customer row for `incoming`, created on first sight and updated with what it says.

    Raises PermanentError when the event names an id we have never seen and no email.
    """
    customer, linked = _find(db, source, incoming)
    if customer is None:
        if incoming.email is None:
            raise PermanentError(
                f"unknown customer id {incoming.id!r} from {source}: no email to create one"
            )
        customer = insert_new(
            db,
            Customer,
            {
                "email": incoming.email,
                "created_at": occurred_at,
                "accepts_marketing": False,
                "orders_count": 0,
                "total_spent": 0,
                "average_order_value": 0,
            },
        )
        if customer is None:  # another worker created this address a moment ago
            customer = db.exec(select(Customer).where(col(Customer.email) == incoming.email)).one()
        suppress_if_invalid(db, customer.email, now=occurred_at)  # a new address: check it once
    if incoming.id is not None and not linked:
        insert_ignoring_duplicates(
            db,
            CustomerExternalId.__table__,  # type: ignore[attr-defined]
            [{"customer_id": customer.id, "source": source, "external_id": incoming.id}],
            CustomerExternalId.__table__.c.id,  # type: ignore[attr-defined]
        )
    _apply_profile(customer, incoming, source=source, occurred_at=occurred_at)
    db.add(customer)
    db.flush()
    return customer


def _find(db: Session, source: str, incoming: CustomerIn) -> tuple[Customer | None, bool]:
    """The known customer, and whether it was found by this source's id (already linked)."""
    if incoming.id is not None:
        by_id = db.exec(
            select(Customer)
            .join(CustomerExternalId, col(CustomerExternalId.customer_id) == col(Customer.id))
            .where(
                col(CustomerExternalId.source) == source,
                col(CustomerExternalId.external_id) == incoming.id,
            )
        ).one_or_none()
        if by_id is not None:
            return by_id, True
    if incoming.email is not None:
        by_email = db.exec(select(Customer).where(col(Customer.email) == incoming.email))
        return by_email.one_or_none(), False
    return None, False


def _apply_profile(
    customer: Customer, incoming: CustomerIn, *, source: str, occurred_at: datetime
) -> None:
    for name in _PROFILE_FIELDS:
        value = getattr(incoming, name)
        if value is not None:
            setattr(customer, name, value)
    consent = incoming.accepts_marketing
    # An older event arriving late must not undo a newer consent decision.
    is_newer = customer.consent_changed_at is None or occurred_at >= customer.consent_changed_at
    if consent is not None and is_newer:
        # The newest statement wins, even one repeating the current value: a "no" on first
        # sight (equal to the default) or said again must outrank a late, older "yes".
        customer.accepts_marketing = consent
        customer.consent_changed_at = occurred_at
        customer.consent_source = source


def refresh_facts(db: Session, customer: Customer) -> None:
    """Recomputes orders count, total spent, first/last order and average from the order rows.

    One indexed aggregate over one customer's orders: exact whatever order events arrive in,
    and idempotent, so no nightly recount is ever needed. The new values are set on `customer`
    and written with the transaction's next flush.
    """
    counted = (col(Order.customer_id) == customer.id) & col(Order.status).not_in(UNCOUNTED_STATUSES)
    count, total, first, last = db.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Order.total), 0),
            func.min(Order.placed_at),
            func.max(Order.placed_at),
        ).where(counted)
    ).one()
    customer.orders_count, customer.total_spent = count, total
    customer.first_order_at, customer.last_order_at = first, last
    customer.average_order_value = total // count if count else 0
    db.add(customer)


def facts_before(db: Session, customer_id: int, order: Order) -> dict[str, int]:
    """The customer's order facts from before `order`: for "larger than their usual" conditions."""
    earlier = (
        (col(Order.customer_id) == customer_id)
        & col(Order.status).not_in(UNCOUNTED_STATUSES)
        & (col(Order.placed_at) < order.placed_at)
        & (col(Order.id) != order.id)
    )
    count, total = db.execute(
        select(func.count(), func.coalesce(func.sum(Order.total), 0)).where(earlier)
    ).one()
    return {
        "orders_count": count,
        "total_spent": total,
        "average_order_value": total // count if count else 0,
    }
