"""Records orders and their lines from order events, and moves their status forward."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

from models import Order, OrderLine, OrderStatus
from models.db import dialect_insert
from models.orders import UNCOUNTED_STATUSES
from models.tables import ORDER_LINES, ORDERS
from models.types import to_minor
from worker.canonical import OrderIn

STATUS_BY_EVENT = {
    "order.placed": OrderStatus.PLACED,
    "order.paid": OrderStatus.PAID,
    "order.fulfilled": OrderStatus.FULFILLED,
    "order.cancelled": OrderStatus.CANCELLED,
    "order.refunded": OrderStatus.REFUNDED,
}


class OrderLines:
    """Order lines known without a query: those of orders a batch has just recorded (inserted
    at its end) and those a batch of deliveries loaded ahead. One per batch, passed along."""

    def __init__(self) -> None:
        self._by_order: dict[int, list[Any]] = {}

    def remember(self, order_id: int, lines: list[Any]) -> None:
        self._by_order[order_id] = lines

    def preload(self, db: Session, order_ids: Iterable[int]) -> None:
        """Loads the lines of many orders in one query."""
        wanted = sorted(set(order_ids) - set(self._by_order))
        for order_id in wanted:
            self._by_order[order_id] = []
        if wanted:
            for line in db.execute(_lines_of(), {"order_ids": wanted}):
                self._by_order[line.order_id].append(line)

    def of(self, db: Session, order_id: int) -> list[OrderLine]:
        """The order's lines (rows with the attributes of `OrderLine`), known ones first."""
        if order_id in self._by_order:
            return cast(list[OrderLine], self._by_order[order_id])
        return order_lines(db, order_id)


@dataclass(frozen=True)
class OrderSighting:
    """An order as one event describes it."""

    source: str
    incoming: OrderIn
    customer_id: int
    event_type: str
    occurred_at: datetime


def record_orders(
    db: Session,
    sightings: Sequence[OrderSighting],
    lines_later: list[dict[str, Any]],
    known_lines: OrderLines,
) -> list[Order]:
    """The order rows for `sightings`, created on first sight; status moved on by each event.

    A new order's lines are added to `lines_later` for the caller to insert with
    `insert_lines` (a batch inserts all its lines at once); until then `known_lines` serves
    them. The rows come back as read (attributes as on `Order`), not tracked by the session.
    """
    if not sightings:
        return []
    rows = [_new_row(sighting) for sighting in sightings]
    rows.sort(key=lambda row: (row["source"], row["source_order_id"]))  # one lock order
    dialect = db.get_bind().dialect.name
    inserted = {(o.source, o.source_order_id): o for o in db.execute(_insert_new(dialect), rows)}
    known = {key: o for key, o in _existing(db, rows, inserted).items() if key not in inserted}
    recorded: list[Order] = []
    for sighting in sightings:
        key = (sighting.source, sighting.incoming.id)
        order: Any = inserted.pop(key, None)  # popped: the same order twice is new only once
        if order is not None:
            _lines_for_later(sighting.incoming, order.id, lines_later, known_lines)
        else:  # known already: a later event about the same order
            order = known.get(key) or _just_recorded(recorded, key)
        new_status = STATUS_BY_EVENT.get(sighting.event_type)
        if new_status is not None and _may_move(order.status, new_status):
            db.execute(_move(), {"order_id": order.id, "new_status": new_status.value})
            fields = vars(order) if isinstance(order, SimpleNamespace) else order._asdict()
            order = SimpleNamespace(**{**fields, "status": new_status.value})
        recorded.append(cast(Order, order))
    return recorded


def _new_row(sighting: OrderSighting) -> dict[str, Any]:
    incoming = sighting.incoming
    return {
        "source": sighting.source,
        "source_order_id": incoming.id,
        "customer_id": sighting.customer_id,
        "status": OrderStatus.PLACED.value,
        "total": to_minor(incoming.total, incoming.currency),
        "currency": incoming.currency,
        "placed_at": sighting.occurred_at,
    }


def _existing(
    db: Session, rows: list[dict[str, Any]], inserted: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], Any]:
    missing = sorted({(r["source"], r["source_order_id"]) for r in rows} - set(inserted))
    if not missing:
        return {}
    return {(o.source, o.source_order_id): o for o in db.execute(_by_keys(), {"keys": missing})}


def _just_recorded(recorded: list[Order], key: tuple[str, str]) -> Any:
    return next(o for o in reversed(recorded) if (o.source, o.source_order_id) == key)


def _lines_for_later(
    incoming: OrderIn, order_id: int, lines_later: list[dict[str, Any]], known: OrderLines
) -> None:
    lines = [
        {
            "order_id": order_id,
            "product_id": line.product_id,
            "title": line.title,
            "category": line.category,
            "quantity": line.quantity,
            "price": to_minor(line.price, incoming.currency),
        }
        for line in incoming.lines
    ]
    lines_later.extend(lines)
    known.remember(order_id, [SimpleNamespace(id=None, **line) for line in lines])


@cache
def _insert_new(dialect: str) -> Insert:
    return dialect_insert(dialect)(ORDERS).on_conflict_do_nothing().returning(*ORDERS.c)  # type: ignore[no-any-return]


@cache
def _by_keys() -> Any:
    return select(ORDERS).where(
        tuple_(ORDERS.c.source, ORDERS.c.source_order_id).in_(bindparam("keys", expanding=True))
    )


@cache
def _move() -> Any:
    return (
        update(ORDERS)
        .where(ORDERS.c.id == bindparam("order_id"))
        .values(status=bindparam("new_status"))
    )


def insert_lines(db: Session, lines: list[dict[str, Any]]) -> None:
    """Inserts order lines in one executemany (those `record_order` left for later)."""
    if lines:
        db.execute(ORDER_LINES.insert(), lines)


def _may_move(current: str, new: OrderStatus) -> bool:
    """Cancelled and refunded are final; a late `order.paid` must not revive a cancelled order."""
    if current in UNCOUNTED_STATUSES:
        return False
    order = list(OrderStatus)
    return new in UNCOUNTED_STATUSES or order.index(new) > order.index(OrderStatus(current))


@cache
def _lines_of() -> Any:
    return (
        select(ORDER_LINES)
        .where(ORDER_LINES.c.order_id.in_(bindparam("order_ids", expanding=True)))
        .order_by(ORDER_LINES.c.id)
    )


def order_lines(db: Session, order_id: int) -> list[OrderLine]:
    """The order's lines, as rows with the attributes of `OrderLine`."""
    return cast(list[OrderLine], list(db.execute(_lines_of(), {"order_ids": [order_id]})))
