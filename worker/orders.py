"""Records orders and their lines from order events, and moves their status forward."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from models import Order, OrderLine, OrderStatus
from models.db import insert_new
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


def record_order(
    db: Session,
    source: str,
    incoming: OrderIn,
    *,
    customer_id: int,
    event_type: str,
    occurred_at: datetime,
) -> Order:
    """The order row for `incoming`, created with its lines on first sight; status moved on."""
    order = insert_new(
        db,
        Order,
        {
            "source": source,
            "source_order_id": incoming.id,
            "customer_id": customer_id,
            "status": OrderStatus.PLACED.value,
            "total": to_minor(incoming.total, incoming.currency),
            "currency": incoming.currency,
            "placed_at": occurred_at,
        },
    )
    if order is not None:
        db.add_all(
            OrderLine(
                order_id=order.id,  # type: ignore[arg-type]
                product_id=line.product_id,
                title=line.title,
                category=line.category,
                quantity=line.quantity,
                price=to_minor(line.price, incoming.currency),
            )
            for line in incoming.lines
        )
    else:  # known already: a later event about the same order
        order = db.exec(
            select(Order).where(
                col(Order.source) == source, col(Order.source_order_id) == incoming.id
            )
        ).one()
    new_status = STATUS_BY_EVENT.get(event_type)
    if new_status is not None and _may_move(order.status, new_status):
        order.status = new_status
        db.add(order)
    db.flush()
    return order


def _may_move(current: str, new: OrderStatus) -> bool:
    """Cancelled and refunded are final; a late `order.paid` must not revive a cancelled order."""
    if current in UNCOUNTED_STATUSES:
        return False
    order = list(OrderStatus)
    return new in UNCOUNTED_STATUSES or order.index(new) > order.index(OrderStatus(current))


def order_lines(db: Session, order_id: int) -> list[OrderLine]:
    return list(db.exec(select(OrderLine).where(col(OrderLine.order_id) == order_id)))
