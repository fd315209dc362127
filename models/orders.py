"""Orders and their lines; the customer's derived facts are computed from these rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class OrderStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


# Orders in these states no longer count towards a customer's facts.
UNCOUNTED_STATUSES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "source_order_id"),
        # With what the reports sum of an order: the lift's look-ups by customer and time read
        # the index alone (migration 0025).
        Index(
            "ix_orders_customer_placed_net",
            "customer_id",
            "placed_at",
            postgresql_include=["status", "shop_total", "shop_refunded"],
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    source_order_id: str = Field(max_length=128)
    customer_id: int = Field(foreign_key="customers.id")
    status: OrderStatus = Field(
        default=OrderStatus.PLACED, sa_column=Column(String(16), nullable=False)
    )
    total: int  # minor units of `currency`, the order's own
    currency: str = Field(max_length=3)
    # The order's time: its own creation time as the platform gives it (`order.placed_at`),
    # else the `order.placed` event's; first seen through a later event, that event's until then.
    placed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The facts' money: minor units of the shop's currency (DEFAULT_CURRENCY), as the platform
    # gives it or converted by EXCHANGE_RATES (worker/processing/money.py).
    shop_total: int
    refunded: int = 0  # minor units of `currency`: the sum of its refunds, at most `total`
    shop_refunded: int = 0  # the same in the shop's currency, at the order's own rate


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    product_id: str | None = Field(default=None, max_length=128)
    title: str = Field(max_length=500)
    category: str | None = Field(default=None, max_length=200)
    quantity: int = 1
    price: int  # minor units, per item, in the order's currency


class OrderRefund(SQLModel, table=True):
    """One refund of an order, once: the same refund seen under two event ids counts once."""

    __tablename__ = "order_refunds"
    __table_args__ = (UniqueConstraint("order_id", "refund_key"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id")
    # The platform's refund id, or the event's (`<source>:<event id>`) when it gives none.
    refund_key: str = Field(max_length=300)
    amount: int  # minor units of the order's currency
    refunded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
