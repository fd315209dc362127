"""Finds or creates the customer an event is about, and keeps their derived facts current."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.dml import Insert, Update
from sqlmodel import Session

from models import Customer, Order
from models.db import dialect_insert, insert_ignoring_duplicates, insert_many
from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, EXTERNAL_IDS, ORDERS
from models.types import UTCDateTime, one_of
from worker.canonical import CustomerIn
from worker.measurement import rungs
from worker.processing.addresses import suppress_if_invalid

_PROFILE_FIELDS = ("first_name", "last_name", "locale", "timezone", "birthday")

# Core tables: the hot path builds its statements once and binds values per event, which costs
# a fraction of the ORM's per-statement work (see ARCHITECTURE.md, "Where the time goes").


@dataclass(frozen=True)
class Sighting:
    """A customer as one event describes them."""

    source: str
    incoming: CustomerIn
    occurred_at: datetime
    account: str | None = None  # the platform account (shop) the event came from


def find_keys(db: Session, sightings: Sequence[Sighting]) -> list[str | None]:
    """The email each sighting's customer is known by: the linked customer's for a known
    platform id, else the one the event gives; None for an unknown id and no email."""
    wanted = sorted({(s.source, s.incoming.id) for s in sightings if s.incoming.id is not None})
    linked: dict[tuple[str, str], str] = {}
    if wanted:
        rows = db.execute(_linked_emails(), {"keys": wanted})
        linked = {(row.source, row.external_id): row.email for row in rows}
    return [
        linked.get((s.source, s.incoming.id), s.incoming.email)
        if s.incoming.id is not None
        else s.incoming.email
        for s in sightings
    ]


@cache
def _linked_emails() -> Any:
    return (
        select(EXTERNAL_IDS.c.source, EXTERNAL_IDS.c.external_id, CUSTOMERS.c.email)
        .join(CUSTOMERS, CUSTOMERS.c.id == EXTERNAL_IDS.c.customer_id)
        .where(
            tuple_(EXTERNAL_IDS.c.source, EXTERNAL_IDS.c.external_id).in_(
                bindparam("keys", expanding=True)
            )
        )
    )


def resolve_customers(
    db: Session, sightings: Sequence[Sighting], keys: Sequence[str]
) -> list[Customer]:
    """The customer rows for `sightings` (one each, by the distinct `keys` from `find_keys`),
    created on first sight and updated with what each says, in one statement; each platform
    id is linked to its customer. The rows come back as read (attributes as on `Customer`),
    not tracked by the session: write changes with a statement.

    Two workers racing on a new address both end on the one row the unique email allows.
    """
    rows = [_new_row(sighting, key) for sighting, key in zip(sightings, keys, strict=True)]
    rows.sort(key=lambda row: row["email"])  # rows locked in one order: no deadlock between batches
    dialect = db.get_bind().dialect.name
    by_email = {row.email: row for row in insert_many(db, _upsert(dialect), rows)}
    found = [by_email[key] for key in keys]
    links = [
        {
            "customer_id": customer.id,
            "source": s.source,
            "external_id": s.incoming.id,
            "account": s.account,
        }
        for s, customer in zip(sightings, found, strict=True)
        if s.incoming.id is not None
    ]
    insert_ignoring_duplicates(db, EXTERNAL_IDS, links, EXTERNAL_IDS.c.id)
    # An address that is not one is suppressed with the reason (a syntax check, ~20 µs; the
    # suppression list keeps the first reason, so seeing the address again changes nothing).
    seen_at = {key: sighting.occurred_at for sighting, key in zip(sightings, keys, strict=True)}
    for email, occurred_at in seen_at.items():
        suppress_if_invalid(db, email, now=occurred_at)
    return cast(list[Customer], found)


def _new_row(sighting: Sighting, email: str) -> dict[str, Any]:
    """The row to insert for a new customer; its profile and consent columns also say what
    the event says to an existing one (`_upsert` reads them as `excluded`)."""
    incoming, said = sighting.incoming, sighting.incoming.accepts_marketing is not None
    row: dict[str, Any] = {name: getattr(incoming, name) for name in _PROFILE_FIELDS}
    row.update(
        email=email,
        created_at=sighting.occurred_at,
        birthday_set_at=sighting.occurred_at if incoming.birthday is not None else None,
        referred_by=incoming.referred_by,
        accepts_marketing=bool(incoming.accepts_marketing),
        consent_changed_at=sighting.occurred_at if said else None,
        consent_source=sighting.source if said else None,
        orders_count=0,
        total_spent=0,
        average_order_value=0,
    )
    return row


@cache
def _upsert(dialect: str) -> Insert:
    """INSERT … ON CONFLICT (email) DO UPDATE with what the event says: given fields win, and
    consent only from a statement at least as new as the last one.

    An older event arriving late must not undo a newer consent decision; the newest statement
    wins even when it repeats the current value, so a "no" on first sight (equal to the
    default) or said again outranks a late, older "yes".
    """
    statement = dialect_insert(dialect)(CUSTOMERS)
    new, c = statement.excluded, CUSTOMERS.c
    takes = and_(
        new.consent_changed_at.is_not(None),
        or_(c.consent_changed_at.is_(None), new.consent_changed_at >= c.consent_changed_at),
    )
    assignments: dict[str, Any] = {
        name: func.coalesce(new[name], c[name]) for name in _PROFILE_FIELDS
    }
    for name in ("accepts_marketing", "consent_changed_at", "consent_source"):
        assignments[name] = case((takes, new[name]), else_=c[name])
    # A birthday's date of entry moves only when the birthday does (fair play's 30 days).
    changed = and_(new.birthday.is_not(None), or_(c.birthday.is_(None), new.birthday != c.birthday))
    assignments["birthday_set_at"] = case((changed, new.birthday_set_at), else_=c.birthday_set_at)
    assignments["referred_by"] = func.coalesce(c.referred_by, new.referred_by)  # the first
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[c.email], set_=assignments
    ).returning(*CUSTOMERS.c)


def _counted(customer_id: Any) -> ColumnElement[bool]:
    return and_(ORDERS.c.customer_id == customer_id, ORDERS.c.status.not_in(UNCOUNTED_STATUSES))


# What an order adds to a customer's totals: its total in the shop's currency, net of refunds.
_NET = ORDERS.c.shop_total - ORDERS.c.shop_refunded


@cache
def _refresh_facts() -> Update:
    def aggregate(expression: Any) -> Any:
        return select(expression).where(_counted(CUSTOMERS.c.id)).scalar_subquery()

    count = aggregate(func.count())
    total = aggregate(func.coalesce(func.sum(_NET), 0))
    return (
        update(CUSTOMERS)
        .where(one_of(CUSTOMERS.c.id, "customer_ids"))
        .values(
            orders_count=count,
            total_spent=total,
            first_order_at=aggregate(func.min(ORDERS.c.placed_at)),
            last_order_at=aggregate(func.max(ORDERS.c.placed_at)),
            average_order_value=case((count > 0, total // count), else_=0),
            currency=bindparam("currency"),
            **rungs.year_facts(bindparam("year_since", type_=UTCDateTime())),
        )
        .returning(*CUSTOMERS.c)
    )


def refresh_facts(
    db: Session, customer_ids: Sequence[int], *, currency: str, now: datetime
) -> dict[int, Customer]:
    """Recomputes orders count, total spent, first/last order, average and the year's revenue
    up to `now` from the order rows, in the shop's `currency` and net of refunds (fully
    refunded and cancelled orders do not count); returns the customer rows as they now are, by
    id.

    One statement over the customers' indexed orders: exact whatever order events arrive in,
    and idempotent, so no nightly recount is ever needed.
    """
    if not customer_ids:
        return {}
    values = {
        "customer_ids": sorted(set(customer_ids)),
        "currency": currency,
        "year_since": now - rungs.YEAR,
    }
    rows = db.execute(_refresh_facts(), values)
    return {row.id: cast(Customer, row) for row in rows}


@cache
def _facts_before() -> Any:
    return select(func.count(), func.coalesce(func.sum(_NET), 0)).where(
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
