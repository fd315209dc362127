"""Finds or creates the customer an event is about, and keeps their derived facts current."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.sql.dml import Insert, Update
from sqlmodel import Session

from models import Customer, CustomerExternalId, Order
from models.db import dialect_insert, insert_ignoring_duplicates
from models.orders import UNCOUNTED_STATUSES
from models.types import UTCDateTime
from worker.canonical import CustomerIn
from worker.errors import PermanentError

_PROFILE_FIELDS = ("first_name", "last_name", "locale", "timezone", "birthday")

# Core tables: the hot path builds its statements once and binds values per event, which costs
# a fraction of the ORM's per-statement work (see ARCHITECTURE.md, "Where the time goes").
CUSTOMERS = cast(Table, Customer.__table__)  # type: ignore[attr-defined]
EXTERNAL_IDS = cast(Table, CustomerExternalId.__table__)  # type: ignore[attr-defined]
ORDERS = cast(Table, Order.__table__)  # type: ignore[attr-defined]


def resolve_customer(
    db: Session, source: str, incoming: CustomerIn, *, occurred_at: datetime
) -> Customer:
    """The customer row for `incoming`, created on first sight and updated with what it says.

    The row comes back as read from the database (attributes as on `Customer`), not tracked by
    the session: write changes with a statement. Raises PermanentError when the event names an
    id we have never seen and no email.
    """
    values = _profile_values(source, incoming, occurred_at)
    customer: Any = None
    if incoming.id is not None:
        customer = db.execute(
            _update_found_by_id(), {**values, "external_id": incoming.id}
        ).one_or_none()
        if customer is not None:
            return cast(Customer, customer)
    if incoming.email is None:
        raise PermanentError(
            f"unknown customer id {incoming.id!r} from {source}: no email to create one"
        )
    dialect = db.get_bind().dialect.name
    # Found or created, and updated, in one statement: two workers racing on a new address
    # both end on the one row the unique email allows.
    customer = db.execute(_upsert_by_email(dialect), {**values, "p_email": incoming.email}).one()
    if incoming.id is not None:
        insert_ignoring_duplicates(
            db,
            EXTERNAL_IDS,
            [{"customer_id": customer.id, "source": source, "external_id": incoming.id}],
            EXTERNAL_IDS.c.id,
        )
    return cast(Customer, customer)


def _profile_values(source: str, incoming: CustomerIn, occurred_at: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {f"p_{name}": getattr(incoming, name) for name in _PROFILE_FIELDS}
    values.update(consent=incoming.accepts_marketing, occurred_at=occurred_at, source=source)
    return values


def _profile_assignments(table: Table) -> dict[str, ColumnElement[Any]]:
    """SET clauses applying an event's profile to an existing row: given fields win, and
    consent only from a statement at least as new as the last one.

    An older event arriving late must not undo a newer consent decision; the newest statement
    wins even when it repeats the current value, so a "no" on first sight (equal to the
    default) or said again outranks a late, older "yes".
    """
    c = table.c
    consent = sa_cast(bindparam("consent"), Boolean)  # typed: PostgreSQL must know it
    at = bindparam("occurred_at", type_=UTCDateTime())
    takes = and_(
        consent.is_not(None), or_(c.consent_changed_at.is_(None), at >= c.consent_changed_at)
    )
    assignments: dict[str, ColumnElement[Any]] = {
        name: func.coalesce(bindparam(f"p_{name}", type_=c[name].type), c[name])
        for name in _PROFILE_FIELDS
    }
    assignments["accepts_marketing"] = case((takes, consent), else_=c.accepts_marketing)
    assignments["consent_changed_at"] = case((takes, at), else_=c.consent_changed_at)
    assignments["consent_source"] = case((takes, bindparam("source")), else_=c.consent_source)
    return assignments


@cache
def _update_found_by_id() -> Update:
    linked = select(EXTERNAL_IDS.c.customer_id).where(
        EXTERNAL_IDS.c.source == bindparam("source"),
        EXTERNAL_IDS.c.external_id == bindparam("external_id"),
    )
    return (
        update(CUSTOMERS)
        .where(CUSTOMERS.c.id == linked.scalar_subquery())
        .values(_profile_assignments(CUSTOMERS))
        .returning(*CUSTOMERS.c)
    )


@cache
def _upsert_by_email(dialect: str) -> Insert:
    consent = sa_cast(bindparam("consent"), Boolean)  # typed: PostgreSQL must know it
    said = consent.is_not(None)
    new_row: dict[str, Any] = {
        name: bindparam(f"p_{name}", type_=CUSTOMERS.c[name].type) for name in _PROFILE_FIELDS
    }
    new_row.update(
        email=bindparam("p_email"),
        created_at=bindparam("occurred_at", type_=UTCDateTime()),
        accepts_marketing=func.coalesce(consent, False),
        consent_changed_at=case((said, bindparam("occurred_at", type_=UTCDateTime()))),
        consent_source=case((said, bindparam("source"))),
        orders_count=0,
        total_spent=0,
        average_order_value=0,
    )
    statement = dialect_insert(dialect)(CUSTOMERS).values(new_row)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[CUSTOMERS.c.email], set_=_profile_assignments(CUSTOMERS)
    ).returning(*CUSTOMERS.c)


def _counted(customer_id: Any) -> ColumnElement[bool]:
    return and_(ORDERS.c.customer_id == customer_id, ORDERS.c.status.not_in(UNCOUNTED_STATUSES))


@cache
def _refresh_facts() -> Update:
    def aggregate(expression: Any) -> Any:
        return select(expression).where(_counted(CUSTOMERS.c.id)).scalar_subquery()

    count = aggregate(func.count())
    total = aggregate(func.coalesce(func.sum(ORDERS.c.total), 0))
    return (
        update(CUSTOMERS)
        .where(CUSTOMERS.c.id == bindparam("customer_id"))
        .values(
            orders_count=count,
            total_spent=total,
            first_order_at=aggregate(func.min(ORDERS.c.placed_at)),
            last_order_at=aggregate(func.max(ORDERS.c.placed_at)),
            average_order_value=case((count > 0, total // count), else_=0),
            currency=func.coalesce(CUSTOMERS.c.currency, bindparam("p_currency")),
        )
        .returning(*CUSTOMERS.c)
    )


def refresh_facts(db: Session, customer_id: int, *, currency: str) -> Customer:
    """Recomputes orders count, total spent, first/last order and average from the order rows,
    sets the customer's currency if they had none; returns the customer row as it now is.

    One statement over one customer's indexed orders: exact whatever order events arrive in,
    and idempotent, so no nightly recount is ever needed.
    """
    row = db.execute(_refresh_facts(), {"customer_id": customer_id, "p_currency": currency}).one()
    return cast(Customer, row)


@cache
def _facts_before() -> Any:
    return select(func.count(), func.coalesce(func.sum(ORDERS.c.total), 0)).where(
        _counted(bindparam("customer_id")),
        ORDERS.c.placed_at < bindparam("placed_at", type_=UTCDateTime()),
        ORDERS.c.id != bindparam("order_id"),
    )


def facts_before(db: Session, customer_id: int, order: Order) -> dict[str, int]:
    """The customer's order facts from before `order`: for "larger than their usual" conditions."""
    count, total = db.execute(
        _facts_before(),
        {"customer_id": customer_id, "placed_at": order.placed_at, "order_id": order.id},
    ).one()
    return {
        "orders_count": count,
        "total_spent": total,
        "average_order_value": total // count if count else 0,
    }
