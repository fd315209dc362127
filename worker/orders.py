"""Records orders and their lines from order events, and moves their status forward."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

from models import Order, OrderLine, OrderStatus
from models.db import dialect_insert
from models.orders import UNCOUNTED_STATUSES
from models.types import to_minor
from worker.canonical import OrderIn

STATUS_BY_EVENT = {
    "order.placed": OrderStatus.PLACED,
    "order.paid": OrderStatus.PAID,
    "order.fulfilled": OrderStatus.FULFILLED,
    "order.cancelled": OrderStatus.CANCELLED,
    "order.refunded": OrderStatus.REFUNDED,
}
ORDERS = cast(Table, Order.__table__)  # type: ignore[attr-defined]
LINES = cast(Table, OrderLine.__table__)  # type: ignore[attr-defined]
# Lines loaded ahead for a batch (`preload_lines`), kept on the session until `forget_lines`.
_LINES_KEY = "ladder.order_lines"


def record_order(
    db: Session,
    source: str,
    incoming: OrderIn,
    *,
    customer_id: int,
    event_type: str,
    occurred_at: datetime,
    lines_later: list[dict[str, Any]] | None = None,
) -> Order:
    """The order row for `incoming`, created with its lines on first sight; status moved on.

    The row comes back as read from the database (attributes as on `Order`), not tracked by
    the session. With `lines_later`, a new order's lines are added to it for the caller to
    insert with `insert_lines` (a batch inserts all its lines at once).
    """
    row = {
        "source": source,
        "source_order_id": incoming.id,
        "customer_id": customer_id,
        "status": OrderStatus.PLACED.value,
        "total": to_minor(incoming.total, incoming.currency),
        "currency": incoming.currency,
        "placed_at": occurred_at,
    }
    order: Any = db.execute(_insert_new(db.get_bind().dialect.name), row).one_or_none()
    if order is not None and incoming.lines:
        lines = [
            {
                "order_id": order.id,
                "product_id": line.product_id,
                "title": line.title,
                "category": line.category,
                "quantity": line.quantity,
                "price": to_minor(line.price, incoming.currency),
            }
            for line in incoming.lines
        ]
        if lines_later is None:
            db.execute(LINES.insert(), lines)
        else:  # the caller inserts them; until then `order_lines` serves them from here
            lines_later.extend(lines)
            preloaded = db.info.setdefault(_LINES_KEY, {})
            preloaded[order.id] = [SimpleNamespace(id=None, **line) for line in lines]
    elif order is None:  # known already: a later event about the same order
        order = db.execute(
            _by_source_id(), {"source": source, "source_order_id": incoming.id}
        ).one()
    new_status = STATUS_BY_EVENT.get(event_type)
    if new_status is not None and _may_move(order.status, new_status):
        order = db.execute(_move(), {"order_id": order.id, "new_status": new_status.value}).one()
    return cast(Order, order)


@cache
def _insert_new(dialect: str) -> Insert:
    return dialect_insert(dialect)(ORDERS).on_conflict_do_nothing().returning(*ORDERS.c)  # type: ignore[no-any-return]


@cache
def _by_source_id() -> Any:
    return select(ORDERS).where(
        ORDERS.c.source == bindparam("source"),
        ORDERS.c.source_order_id == bindparam("source_order_id"),
    )


@cache
def _move() -> Any:
    return (
        update(ORDERS)
        .where(ORDERS.c.id == bindparam("order_id"))
        .values(status=bindparam("new_status"))
        .returning(*ORDERS.c)
    )


def insert_lines(db: Session, lines: list[dict[str, Any]]) -> None:
    """Inserts order lines in one executemany (those `record_order` left for later)."""
    if lines:
        db.execute(LINES.insert(), lines)


def _may_move(current: str, new: OrderStatus) -> bool:
    """Cancelled and refunded are final; a late `order.paid` must not revive a cancelled order."""
    if current in UNCOUNTED_STATUSES:
        return False
    order = list(OrderStatus)
    return new in UNCOUNTED_STATUSES or order.index(new) > order.index(OrderStatus(current))


@cache
def _lines_of() -> Any:
    return (
        select(LINES)
        .where(LINES.c.order_id.in_(bindparam("order_ids", expanding=True)))
        .order_by(LINES.c.id)
    )


def order_lines(db: Session, order_id: int) -> list[OrderLine]:
    """The order's lines (rows with the attributes of `OrderLine`), preloaded ones first."""
    preloaded: dict[int, list[Any]] | None = db.info.get(_LINES_KEY)
    if preloaded is not None and order_id in preloaded:
        return cast(list[OrderLine], preloaded[order_id])
    return cast(list[OrderLine], list(db.execute(_lines_of(), {"order_ids": [order_id]})))


def preload_lines(db: Session, order_ids: Iterable[int]) -> None:
    """Loads the lines of many orders in one query, for `order_lines` to serve in a batch."""
    wanted = sorted(set(order_ids))
    preloaded: dict[int, list[Any]] = {order_id: [] for order_id in wanted}
    if wanted:
        for line in db.execute(_lines_of(), {"order_ids": wanted}):
            preloaded[line.order_id].append(line)
    db.info[_LINES_KEY] = preloaded


def forget_lines(db: Session) -> None:
    db.info.pop(_LINES_KEY, None)
