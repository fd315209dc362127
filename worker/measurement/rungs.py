"""The customer ladder kept current: each customer's rung (`customer.rung`) from their facts,
as events are applied (in their commit) and by the daily refresh (days pass); every change a
`ladder_moves` row and, but for a first placement, a `rung.up` or `rung.down` event.

Set-based: one `UPDATE` decides the rung of every customer it covers with a `CASE` compiled
from `measurement/rungs.toml` and writes only those whose rung changes; `rung_version` numbers
each customer's moves, so a move or its event stored twice is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlmodel import Session

from models import EventStatus
from models.db import dialect_insert, insert_ignoring_duplicates
from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, EVENTS, LADDER_MOVES, ORDERS
from models.types import UTCDateTime, minor_digits, one_of
from worker.measurement.rung_scheme import Rung, Scheme

SOURCE = "ladder"  # the source of every event Ladder makes (as `audience.own_events`)
EVENT_TYPES = ("rung.up", "rung.down")
YEAR = timedelta(days=365)
C = CUSTOMERS.c


def _of_the_year(expression: Any, *where: ColumnElement[bool]) -> Any:
    """`expression` over the customer row's counted orders that match `where`."""
    o = ORDERS.c
    counted = o.status.not_in([status.value for status in UNCOUNTED_STATUSES])
    return select(expression).where(o.customer_id == C.id, counted, *where).scalar_subquery()


def year_facts(since: ColumnElement[Any]) -> dict[str, Any]:
    """`revenue_12m` and `revenue_12m_oldest_at` of each customer row, worked out from the
    orders placed after `since` (a year before the facts' time): assignments for an `UPDATE`
    of customers, at order time (`processing.customers.refresh_facts`)."""
    o = ORDERS.c
    return {
        "revenue_12m": func.coalesce(
            _of_the_year(func.sum(o.shop_total - o.shop_refunded), o.placed_at > since), 0
        ),
        "revenue_12m_oldest_at": _of_the_year(func.min(o.placed_at), o.placed_at > since),
    }


def sweep(db: Session, *, now: datetime) -> int:
    """Takes the orders that have turned a year old off the year's revenue of their customers
    (those whose oldest order of the year is now older: a few a day), and finds each one's new
    oldest. Returns how many customers it changed.

    The kept figure counts every counted order from `revenue_12m_oldest_at` on (each order
    event works it out again), so taking off those from then to a year ago leaves those of the
    year: a read of the few orders that left and one index probe for the next, not a sum of
    every order of the year (a regular's hundreds).
    """
    o = ORDERS.c
    since = literal(now - YEAR, UTCDateTime())
    left = and_(o.placed_at >= C.revenue_12m_oldest_at, o.placed_at <= since)
    gone = func.coalesce(_of_the_year(func.sum(o.shop_total - o.shop_refunded), left), 0)
    statement = (
        update(CUSTOMERS)
        .where(C.revenue_12m_oldest_at <= since)
        .values(
            revenue_12m=C.revenue_12m - gone,
            revenue_12m_oldest_at=_of_the_year(func.min(o.placed_at), o.placed_at > since),
        )
    )
    return db.execute(statement).rowcount  # type: ignore[attr-defined, no-any-return]


def _condition(rung: Rung, *, now: datetime, digits: int) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if rung.orders_min is not None:
        parts.append(C.orders_count >= rung.orders_min)
    if rung.orders_max is not None:
        parts.append(C.orders_count <= rung.orders_max)
    # Whole days since the last order: at least N when the order is N days old or more; at
    # most M while it is less than M + 1 days old. No order: neither holds.
    if rung.days_since_last_order_min is not None:
        bound = now - timedelta(days=rung.days_since_last_order_min)
        parts.append(C.last_order_at <= literal(bound, UTCDateTime()))
    if rung.days_since_last_order_max is not None:
        bound = now - timedelta(days=rung.days_since_last_order_max + 1)
        parts.append(C.last_order_at > literal(bound, UTCDateTime()))
    # The year's revenue as last worked out: at the customer's last order, or by `sweep` once
    # its oldest order left the year (`refresh` sweeps first; an order's `place` follows the
    # facts of the same commit).
    if rung.revenue_12m_min is not None:
        parts.append(C.revenue_12m >= round(rung.revenue_12m_min * 10**digits))
    if rung.revenue_12m_max is not None:
        parts.append(C.revenue_12m <= round(rung.revenue_12m_max * 10**digits))
    if rung.segments is not None:
        parts.append(C.segment.in_(rung.segments))
    return and_(true(), *parts)


def rung_of(scheme: Scheme, *, now: datetime, currency: str) -> ColumnElement[str]:
    """The rung each customer row stands on at `now`: the first rung beside the line whose
    conditions hold, else the highest on the line whose do, else the line's ground."""
    digits = minor_digits(currency)
    by_name = {rung.name: rung for rung in scheme.rung}
    checked = [*scheme.beside, *reversed(scheme.line[1:])]
    whens = [(_condition(by_name[name], now=now, digits=digits), name) for name in checked]
    return case(*whens, else_=literal(scheme.line[0], String))


def _placing(scheme: Scheme, *, now: datetime, currency: str, where: ColumnElement[bool]) -> Any:
    rung = rung_of(scheme, now=now, currency=currency)
    return (
        update(CUSTOMERS)
        .where(where, C.rung.is_distinct_from(rung))
        .values(
            rung=rung,
            previous_rung=C.rung,
            rung_changed_at=literal(now, UTCDateTime()),
            rung_version=C.rung_version + 1,
        )
    )


def place(
    db: Session,
    scheme: Scheme,
    causes: Mapping[int, datetime],
    *,
    now: datetime,
    currency: str,
) -> dict[int, Any]:
    """Puts the customers of `causes` (customer id → when the event that may move them
    happened) on the rung their facts reach now, in the caller's transaction; writes only
    those whose rung changes. Returns their rows as they now are, by id.

    Each move's event carries its cause's time: a delivery it starts after a wait is then due
    from that time, so an imported history's moves are skipped, never mailed late.
    """
    if not causes:
        return {}
    statement = _placing(scheme, now=now, currency=currency, where=one_of(C.id, "ids"))
    placed = db.execute(statement.returning(*CUSTOMERS.c), {"ids": sorted(causes)})
    moved = {row.id: row for row in placed}
    if not moved:
        return {}
    rows = list(moved.values())
    insert_ignoring_duplicates(
        db, LADDER_MOVES, [_move_row(row, now) for row in rows], LADDER_MOVES.c.id
    )
    told = [
        _event_row(scheme, row, occurred_at=causes[row.id], now=now)
        for row in rows
        if row.previous_rung is not None
    ]
    insert_ignoring_duplicates(db, EVENTS, told, EVENTS.c.id)
    return moved


def _move_row(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": row.id,
        "version": row.rung_version,
        "from_rung": row.previous_rung,
        "to_rung": row.rung,
        "moved_at": now,
    }


def event_id(direction: str, customer_id: int, version: int) -> str:
    return f"rung.{direction}:{customer_id}:{version}"


def _event_row(scheme: Scheme, row: Any, *, occurred_at: datetime, now: datetime) -> dict[str, Any]:
    direction = scheme.direction(row.previous_rung, row.rung)
    key = event_id(direction, row.id, row.rung_version)
    payload = {
        "source": SOURCE,
        "id": key,
        "type": f"rung.{direction}",
        "occurred_at": occurred_at.isoformat(),
        "customer": {"email": row.email},
        "data": {"from": row.previous_rung, "to": row.rung, "direction": direction},
    }
    return {
        "source": SOURCE,
        "source_event_id": key,
        "type": f"rung.{direction}",
        "customer_id": row.id,
        "occurred_at": occurred_at,
        "received_at": now,
        "payload": payload,
        "status": EventStatus.PENDING.value,
        "attempts": 0,
    }


def refresh(db: Session, scheme: Scheme, *, now: datetime, currency: str) -> int:
    """Places every customer on the rung their facts reach at `now` (days passed since their
    last order move them); writes only those who move, records their moves and events set-based
    (`INSERT … SELECT`), and commits. Returns how many moved."""
    sweep(db, now=now)
    db.execute(_placing(scheme, now=now, currency=currency, where=true()))
    changed = C.rung_changed_at == literal(now, UTCDateTime())
    moves = select(C.id, C.rung_version, C.previous_rung, C.rung, literal(now, UTCDateTime()))
    dialect = db.get_bind().dialect.name
    inserted = db.execute(
        dialect_insert(dialect)(LADDER_MOVES)
        .from_select(
            ["customer_id", "version", "from_rung", "to_rung", "moved_at"], moves.where(changed)
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "version"])
        .returning(LADDER_MOVES.c.id)
    ).all()
    for direction in ("up", "down"):
        _insert_events(db, scheme, direction, where=changed, now=now)
    db.commit()
    return len(inserted)


def _position(scheme: Scheme, column: Any) -> ColumnElement[int]:
    whens = [(column == name, scheme.position(name)) for name in scheme.names]
    return case(*whens, else_=scheme.position(None))


def _insert_events(
    db: Session, scheme: Scheme, direction: str, *, where: ColumnElement[bool], now: datetime
) -> None:
    climbed = _position(scheme, C.rung) > _position(scheme, C.previous_rung)
    chosen = and_(where, C.previous_rung.is_not(None), climbed if direction == "up" else ~climbed)
    dialect = db.get_bind().dialect.name
    key = (
        _text(f"rung.{direction}:")
        + sa_cast(C.id, String)
        + _text(":")
        + sa_cast(C.rung_version, String)
    )
    data = {"from": C.previous_rung, "to": C.rung, "direction": _text(direction)}
    payload = _json(
        dialect,
        {
            "source": _text(SOURCE),
            "id": key,
            "type": _text(f"rung.{direction}"),
            "occurred_at": _text(now.isoformat()),
            "customer": _json(dialect, {"email": C.email}),
            "data": _json(dialect, data),
        },
    )
    rows = select(
        _text(SOURCE),
        key,
        _text(f"rung.{direction}"),
        C.id,
        literal(now, EVENTS.c.occurred_at.type),
        literal(now, EVENTS.c.received_at.type),
        payload,
        _text(EventStatus.PENDING.value),
        literal(0),
    ).where(chosen)
    columns = ["source", "source_event_id", "type", "customer_id", "occurred_at"]
    columns += ["received_at", "payload", "status", "attempts"]
    db.execute(
        dialect_insert(dialect)(EVENTS)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["source", "source_event_id"])
    )


def _text(value: str) -> ColumnElement[str]:
    # Typed: PostgreSQL cannot guess the type of a parameter inside json_build_object.
    return sa_cast(literal(value, String), String)


def _json(dialect: str, pairs: Mapping[str, Any]) -> ColumnElement[Any]:
    build = func.json_build_object if dialect == "postgresql" else func.json_object
    arguments: list[Any] = []
    for key, value in pairs.items():
        arguments += [literal(key, String), value]
    return build(*arguments)


def counts(db: Session) -> dict[str, int]:
    """Customers per rung now (None: not placed yet)."""
    rows = db.execute(select(C.rung, func.count()).group_by(C.rung)).all()
    return {str(rung): n for rung, n in rows}


def moves_since(db: Session, since: datetime) -> Sequence[Any]:
    """The moves recorded since `since`, oldest first (for tests and the demo's summary)."""
    lm = LADDER_MOVES.c
    return db.execute(select(LADDER_MOVES).where(lm.moved_at >= since).order_by(lm.id)).all()
