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
from models.db import dialect_insert, insert_many
from models.orders import UNCOUNTED_STATUSES
from models.tables import ORDER_LINES, ORDERS
from models.types import UTCDateTime, one_of, to_minor
from worker.canonical import OrderIn
from worker.processing import refunds
from worker.processing.money import CurrencyRefused, ShopMoney

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
    event_id: int = 0  # the event's row, named by OrderRefused
    event_key: str = ""  # `<source>:<source event id>`: a refund's key when it has no id

    def order_time(self, recorded: datetime) -> datetime:
        """The order's time, given the one `recorded` so far: `order.placed_at` when the event
        says it; else an `order.placed` event's time if earlier (a `paid` seen first set a
        provisional time, and an order is placed before it is paid); else as recorded."""
        if self.incoming.placed_at is not None:
            return self.incoming.placed_at
        if self.event_type == "order.placed":
            return min(recorded, self.occurred_at)
        return recorded


class OrderRefused(Exception):
    """An event whose order cannot be recorded (a currency the shop cannot count in)."""

    def __init__(self, event_id: int, reason: str) -> None:
        super().__init__(reason)
        self.event_id, self.reason = event_id, reason


def record_orders(
    db: Session,
    sightings: Sequence[OrderSighting],
    lines_later: list[dict[str, Any]],
    known_lines: OrderLines,
    *,
    money: ShopMoney,
) -> list[Order]:
    """The order rows for `sightings`, created on first sight; status moved on by each event,
    refunds added up, the order's time set by the first event that tells it.

    A new order's lines are added to `lines_later` for the caller to insert with
    `insert_lines` (a batch inserts all its lines at once); until then `known_lines` serves
    them. The rows come back as read (attributes as on `Order`), not tracked by the session.
    Raises OrderRefused for a new order `money` cannot count in the shop's currency.
    """
    if not sightings:
        return []
    rows: list[dict[str, Any]] = []
    refused: dict[tuple[str, str], tuple[OrderSighting, str]] = {}
    for sighting in sightings:
        try:
            rows.append(_new_row(sighting, money))
        except CurrencyRefused as exc:
            refused.setdefault((sighting.source, sighting.incoming.id), (sighting, str(exc)))
    rows.sort(key=lambda row: (row["source"], row["source_order_id"]))  # one lock order
    dialect = db.get_bind().dialect.name
    inserted = (
        {(o.source, o.source_order_id): o for o in insert_many(db, _insert_new(dialect), rows)}
        if rows
        else {}
    )
    keys = {(s.source, s.incoming.id) for s in sightings}
    known = {key: o for key, o in _existing(db, keys, inserted).items() if key not in inserted}
    recorded: list[Order] = []
    for sighting in sightings:
        key = (sighting.source, sighting.incoming.id)
        order: Any = inserted.pop(key, None)  # popped: the same order twice is new only once
        if order is not None:
            _lines_for_later(sighting.incoming, order.id, lines_later, known_lines)
        else:  # known already: a later event about the same order
            order = known.get(key) or _just_recorded(recorded, key)
        if order is None:  # not stored, and this event cannot store it
            refused_sighting, reason = refused[key]
            raise OrderRefused(refused_sighting.event_id, reason)
        recorded.append(cast(Order, _apply(db, order, sighting)))
    return recorded


def _apply(db: Session, order: Any, sighting: OrderSighting) -> Any:
    """What this event changes of a recorded order: its time, its refunds, its status."""
    placed_at = sighting.order_time(order.placed_at)
    if placed_at != order.placed_at:
        db.execute(_retime(), {"order_id": order.id, "placed_at": placed_at})
        order = _with(order, placed_at=placed_at)
    new_status = STATUS_BY_EVENT.get(sighting.event_type)
    if new_status is OrderStatus.REFUNDED:
        refunded, shop_refunded = refunds.record(
            db,
            order,
            sighting.incoming.refund,
            event_key=sighting.event_key,
            occurred_at=sighting.occurred_at,
        )
        order = _with(order, refunded=refunded, shop_refunded=shop_refunded)
        if order.refunded < order.total:
            new_status = None  # a partial refund: the order still counts, net of it
    if new_status is not None and _may_move(order.status, new_status):
        db.execute(_move(), {"order_id": order.id, "new_status": new_status.value})
        order = _with(order, status=new_status.value)
    return order


def _with(order: Any, **changes: Any) -> SimpleNamespace:
    fields = vars(order) if isinstance(order, SimpleNamespace) else order._asdict()
    return SimpleNamespace(**{**fields, **changes})


def _new_row(sighting: OrderSighting, money: ShopMoney) -> dict[str, Any]:
    incoming = sighting.incoming
    return {
        "source": sighting.source,
        "source_order_id": incoming.id,
        "customer_id": sighting.customer_id,
        "status": OrderStatus.PLACED.value,
        "total": to_minor(incoming.total, incoming.currency),
        "currency": incoming.currency,
        "shop_total": money.total_of(incoming),
        "refunded": 0,
        "shop_refunded": 0,
        "placed_at": sighting.incoming.placed_at or sighting.occurred_at,
    }


def _existing(
    db: Session, keys: set[tuple[str, str]], inserted: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], Any]:
    missing = sorted(keys - set(inserted))
    if not missing:
        return {}
    return {(o.source, o.source_order_id): o for o in db.execute(_by_keys(), {"keys": missing})}


def _just_recorded(recorded: list[Order], key: tuple[str, str]) -> Any:
    return next((o for o in reversed(recorded) if (o.source, o.source_order_id) == key), None)


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
def _retime() -> Any:
    return (
        update(ORDERS)
        .where(ORDERS.c.id == bindparam("order_id"))
        .values(placed_at=bindparam("placed_at", type_=UTCDateTime()))
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
        insert_many(db, _insert_lines(), lines)


@cache
def _insert_lines() -> Insert:
    return ORDER_LINES.insert()  # built once: insert_many keeps its form by the statement


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
        .where(one_of(ORDER_LINES.c.order_id, "order_ids"))
        .order_by(ORDER_LINES.c.id)
    )


def order_lines(db: Session, order_id: int) -> list[OrderLine]:
    """The order's lines, as rows with the attributes of `OrderLine`."""
    return cast(list[OrderLine], list(db.execute(_lines_of(), {"order_ids": [order_id]})))
