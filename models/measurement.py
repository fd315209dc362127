"""Measurement rows: which email each order is attributed to, and by which rule; the weekly
CLV fits; each move of a customer between rungs of the ladder."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, Index, Integer, String, UniqueConstraint
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


class ClvFit(SQLModel, table=True):
    """One weekly fit of the CLV models (the clock's `predictions.refresh`): the day it was
    fitted as of, its parameters, and why there are none when it could not fit. Each
    customer's prediction from it is on their row; the report reads both instead of fitting
    again, unless asked for another day (`--as-of`)."""

    __tablename__ = "clv_fits"

    id: int | None = Field(default=None, primary_key=True)
    as_of: date = Field(sa_column=Column(Date, nullable=False, index=True))
    horizon_days: int
    customers: int
    # {"bgnbd": {"r", "alpha", "a", "b", "log_likelihood"}, "gamma_gamma": {"p", "q",
    # "gamma", "log_likelihood"}}; empty when `problem` says why nothing was fitted.
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    problem: str | None = Field(default=None, max_length=500)
    fitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class LadderMove(SQLModel, table=True):
    """One customer's move from one rung to another (`from_rung` None: their first placement),
    the `version`-th of theirs. The rung a customer stood on at any moment is the `to_rung` of
    their last move before it, so the migration matrix of any past period is rebuilt from these
    rows; the period's revenue is read from the orders when a report is made."""

    __tablename__ = "ladder_moves"
    __table_args__ = (
        UniqueConstraint("customer_id", "version"),
        Index("ix_ladder_moves_moved_at", "moved_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id")
    version: int = Field(sa_column=Column(Integer, nullable=False))
    from_rung: str | None = Field(default=None, max_length=32)
    to_rung: str = Field(max_length=32)
    moved_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
