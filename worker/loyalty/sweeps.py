"""The programme's daily sweeps over the ledger, set-based: points whose return window passed
are approved, idle balances warned of and then lapsed.

Each works through its members in batches of BATCH, one transaction a batch: the batch's
members are locked in customer order (the one lock order every worker uses, so a sweep and an
order being processed cannot deadlock), its entries appended at once (each unique by its
cause, so a rerun or a second clock appends none twice) and each member's balances moved by
exactly what was appended for them. At a million members a day's sweep is a few thousand rows
in a few statements (`bench/loyalty.py`), where one transaction a member took tens of seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from models import EntryKind
from models.tables import CUSTOMERS, EVENTS, LOYALTY_ENTRIES, LOYALTY_MEMBERS
from models.types import UTCDateTime, one_of
from triggers.programme import Programme
from worker.loyalty import ledger, notices

E = LOYALTY_ENTRIES.c
M = LOYALTY_MEMBERS.c
BATCH = 2_000


def approve_due(db: Session, *, now: datetime) -> int:
    """Approves the pending points of every order whose return window has passed by `now`;
    returns how many orders were approved. Only members with points pending are looked at:
    an order refunded in full before its window passed has nothing left to approve."""
    # One query for every due order (the database would walk its index in customer order to
    # honour a LIMIT, which took 39 s at a million members); the batches are taken from it.
    due = sorted(
        (
            (int(order_id), int(customer_id))
            for order_id, customer_id in db.execute(_due_earns(), {"now": now})
        ),
        key=lambda due: (due[1], due[0]),  # by member: a batch locks as few as it can
    )
    db.commit()
    approved = 0
    for batch in _batches(due):
        members = _lock(db, sorted({customer_id for _, customer_id in batch}))
        waiting = {
            row.order_id: (row.customer_id, int(row.pending))
            for row in db.execute(_waiting(), {"orders": [order_id for order_id, _ in batch]})
            if not row.approved  # approved by another clock since the first query
        }
        rows = [
            ledger.entry_row(
                customer_id,
                f"order:{order_id}:approve",
                EntryKind.APPROVE,
                now,
                points=points,
                pending=-points,
                order_id=order_id,
            )
            for order_id, (customer_id, points) in waiting.items()
            if customer_id in members
        ]
        approved += len(ledger.append_many(db, rows))
        db.commit()
    return approved


@cache
def _due_earns() -> Any:
    approval = aliased(LOYALTY_ENTRIES)
    approved = exists().where(
        and_(approval.c.order_id == E.order_id, approval.c.kind == EntryKind.APPROVE.value)
    )
    return (
        select(E.order_id, E.customer_id)
        .join(LOYALTY_MEMBERS, M.customer_id == E.customer_id)
        .where(
            M.pending > 0,
            E.kind == EntryKind.EARN.value,
            E.available_at <= bindparam("now", type_=UTCDateTime()),
            ~approved,
        )
    )


@cache
def _waiting() -> Any:
    """Each order's customer, the points still waiting (its earn less what was taken back
    before approval) and whether it was approved: read after its member was locked."""
    approved = func.max(case((E.kind == EntryKind.APPROVE.value, 1), else_=0))
    return (
        select(
            E.order_id,
            func.min(E.customer_id).label("customer_id"),
            func.sum(E.pending).label("pending"),
            (approved == 1).label("approved"),
        )
        .where(one_of(E.order_id, "orders"))
        .group_by(E.order_id)
    )


def expire_inactive(db: Session, programme: Programme, *, now: datetime) -> tuple[int, int]:
    """Members with points to spend and no order for `expiry.after_inactivity`: their balance
    lapses (`expire:<customer>:<last order>`); those `warn_before` it get `points.expiring`
    once per last order. Returns (warned, expired), each counting only what this run did."""
    expiry = programme.expiry
    warn_from = now - expiry.after_inactivity + expiry.warn_before
    idle = db.execute(_idle_with_points(), {"warn_from": warn_from}).all()
    db.commit()
    warn = [row for row in idle if row.last_order_at + expiry.after_inactivity > now]
    lapse = [row.customer_id for row in idle if row.last_order_at + expiry.after_inactivity <= now]
    warned = sum(_warn(db, batch, programme, now=now) for batch in _batches(warn))
    lapsed_by = now - expiry.after_inactivity
    expired = sum(_lapse(db, batch, lapsed_by, now=now) for batch in _batches(lapse))
    return warned, expired


def _stamp(customer_id: int, last_order_at: datetime) -> str:
    """Names the idle spell: a new order starts another, warned of and lapsed once more."""
    return f"{customer_id}:{last_order_at:%Y%m%dT%H%M%S}"


def _warn(db: Session, idle: Sequence[Any], programme: Programme, *, now: datetime) -> int:
    """`points.expiring` for the members not yet warned of this spell, in one insert."""
    keys = {f"points.expiring:{_stamp(row.customer_id, row.last_order_at)}": row for row in idle}
    told = set(
        db.execute(
            select(EVENTS.c.source_event_id).where(
                EVENTS.c.source == notices.SOURCE, EVENTS.c.source_event_id.in_(list(keys))
            )
        ).scalars()
    )
    fresh = [
        notices.notice(
            event_type="points.expiring",
            key=_stamp(row.customer_id, row.last_order_at),
            customer_id=row.customer_id,
            email=row.email,
            data={
                "points": int(row.points),
                "expires_at": (row.last_order_at + programme.expiry.after_inactivity).isoformat(),
            },
            now=now,
        )
        for key, row in keys.items()
        if key not in told
    ]
    warned = notices.announce_many(db, fresh)
    db.commit()
    return warned


def _lapse(db: Session, customer_ids: Sequence[int], lapsed_by: datetime, *, now: datetime) -> int:
    """Takes each locked member's whole balance, as it is under the lock, unless an order
    since the first look started a new spell."""
    rows = [
        ledger.entry_row(
            member.customer_id,
            f"expire:{_stamp(member.customer_id, member.last_order_at)}",
            EntryKind.EXPIRE,
            now,
            points=-int(member.points),
        )
        for member in db.execute(_locked_idle(db), {"members": list(customer_ids)})
        if member.points > 0 and member.last_order_at <= lapsed_by
    ]
    lapsed = len(ledger.append_many(db, rows))
    db.commit()
    return lapsed


@cache
def _idle_with_points() -> Any:
    """Members with points to spend whose last order is old enough to be warned of."""
    last_order_at = CUSTOMERS.c.last_order_at
    return (
        select(M.customer_id, CUSTOMERS.c.email, last_order_at, M.points)
        .join(CUSTOMERS, CUSTOMERS.c.id == M.customer_id)
        .where(M.points > 0, last_order_at <= bindparam("warn_from", type_=UTCDateTime()))
        .order_by(M.customer_id)
    )


def _locked_idle(db: Session) -> Any:
    statement = (
        select(M.customer_id, M.points, CUSTOMERS.c.last_order_at)
        .join(CUSTOMERS, CUSTOMERS.c.id == M.customer_id)
        .where(one_of(M.customer_id, "members"))
        .order_by(M.customer_id)
    )
    if db.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(of=LOYALTY_MEMBERS)
    return statement


def _lock(db: Session, customer_ids: Sequence[int]) -> set[int]:
    """Locks the members (PostgreSQL; SQLite has one writer at a time) in customer order;
    returns those that exist."""
    statement = select(M.customer_id).where(M.customer_id.in_(customer_ids))
    if db.get_bind().dialect.name == "postgresql":
        statement = statement.order_by(M.customer_id).with_for_update()
    return set(db.execute(statement).scalars())


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]
