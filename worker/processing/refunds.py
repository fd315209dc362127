"""Refunds: each recorded once per order, summed, and the sum counted in the shop's currency.

An order stops counting only when its refunds reach its total (`orders` moves it to
`refunded` then); before that a customer's facts count it net of what was given back.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlmodel import Session

from models.db import insert_ignoring_duplicates
from models.tables import ORDER_REFUNDS, ORDERS
from models.types import to_minor
from worker.canonical import RefundIn
from worker.processing.money import shop_share


def record(
    db: Session,
    order: Any,
    refund: RefundIn | None,
    *,
    event_key: str,
    occurred_at: datetime,
) -> tuple[int, int]:
    """Records one refund of `order` (a row with the attributes of `Order`) unless its key,
    the refund's id or else the event's, is recorded already; no refund given means the rest
    of the order. Returns the order's refunded amount now, in its currency and the shop's."""
    if refund is None:
        key, amount = f"event:{event_key}", order.total
    else:
        key = f"refund:{refund.id}" if refund.id else f"event:{event_key}"
        amount = to_minor(refund.amount, order.currency)
    row = {"order_id": order.id, "refund_key": key[:300], "amount": amount}
    row["refunded_at"] = occurred_at
    insert_ignoring_duplicates(db, ORDER_REFUNDS, [row], ORDER_REFUNDS.c.id)
    summed = db.execute(_sum_of(), {"order_id": order.id}).scalar_one()
    refunded = min(int(summed), order.total)
    shop_refunded = shop_share(order.shop_total, refunded, order.total)
    values = {"order_id": order.id, "refunded": refunded, "shop_refunded": shop_refunded}
    db.execute(_set_refunded(), values)
    return refunded, shop_refunded


@cache
def _sum_of() -> Any:
    return select(func.coalesce(func.sum(ORDER_REFUNDS.c.amount), 0)).where(
        ORDER_REFUNDS.c.order_id == bindparam("order_id")
    )


@cache
def _set_refunded() -> Any:
    return (
        update(ORDERS)
        .where(ORDERS.c.id == bindparam("order_id"))
        .values(refunded=bindparam("refunded"), shop_refunded=bindparam("shop_refunded"))
    )
