"""Measurement rows: which email each order is attributed to, and by which rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class Attribution(SQLModel, table=True):
    """One order and the email it is credited to: the last one its customer received (or,
    for a trigger whose rule is `clicked`, clicked) within that trigger's window before the
    order. An order no email reached has no row. Its revenue is the order's own, read when a
    report is made (`orders.shop_total - orders.shop_refunded`, nothing once cancelled), so a
    refund or a cancellation changes what the email earned without touching this row."""

    __tablename__ = "attributions"
    __table_args__ = (Index("ix_attributions_delivery", "delivery_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", unique=True)
    delivery_id: int = Field(foreign_key="deliveries.id")
    customer_id: int = Field(foreign_key="customers.id", index=True)
    trigger: str = Field(max_length=64)
    rule: str = Field(sa_column=Column(String(8), nullable=False))  # received, clicked
    window_s: int = Field(sa_column=Column(Integer, nullable=False))
    # The moment the rule counted from: the email's sending, or its first click.
    touched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attributed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
