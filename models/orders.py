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
        Index("ix_orders_customer_placed", "customer_id", "placed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    source_order_id: str = Field(max_length=128)
    customer_id: int = Field(foreign_key="customers.id")
    status: OrderStatus = Field(
        default=OrderStatus.PLACED, sa_column=Column(String(16), nullable=False)
    )
    total: int  # minor units
    currency: str = Field(max_length=3)
    placed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    product_id: str | None = Field(default=None, max_length=128)
    title: str = Field(max_length=500)
    category: str | None = Field(default=None, max_length=200)
    quantity: int = 1
    price: int  # minor units, per item, in the order's currency
