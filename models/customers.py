"""Customers: one per e-mail address, with their ids on each platform and derived facts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_last_order_at", "last_order_at"),
        Index("ix_customers_rung_changed_at", "rung_changed_at"),
        Index("ix_customers_revenue_12m_oldest_at", "revenue_12m_oldest_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)  # normalised: stripped, lower-case
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    birthday: date | None = None
    # When the birthday was first given, or last changed: a reward waits for one given 30
    # days ahead (fair play), so a birthday typed in today earns nothing this year.
    birthday_set_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The address of the customer who referred them, as the sign-up said (the first one given).
    referred_by: str | None = Field(default=None, max_length=320)
    accepts_marketing: bool = False
    consent_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    consent_source: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    # Derived facts, kept current by `process` on every order event.
    currency: str | None = Field(default=None, max_length=3)
    orders_count: int = 0
    total_spent: int = 0  # minor units of `currency`
    average_order_value: int = 0  # minor units of `currency`
    first_order_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_order_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Net revenue (minor units) of the orders placed in the 365 days before the facts were last
    # worked out, and when the oldest of them was placed: a year after that, the ladder's daily
    # refresh works it out again (worker/measurement/rungs.py). None: no order in the year.
    revenue_12m: int = 0
    revenue_12m_oldest_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # From the segment refresh.
    rfm: str | None = Field(default=None, max_length=3)
    segment: str | None = Field(default=None, max_length=32)
    segment_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    previous_segment: str | None = Field(default=None, max_length=32)  # before the last change
    # The ladder (measurement/rungs.toml, worker/measurement/rungs.py): kept current as events
    # arrive and by the daily refresh; each change is a `ladder_moves` row, numbered by
    # `rung_version`, which names its `rung.up` / `rung.down` event.
    rung: str | None = Field(default=None, max_length=32)
    rung_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    previous_rung: str | None = Field(default=None, max_length=32)  # before the last change
    rung_version: int = 0
    # Predicted by the CLV models (worker/measurement/predictions.py), refreshed weekly; None
    # until a first fit. `clv`: the expected value of the next CLV_HORIZON_DAYS' orders, in
    # minor units of the shop's currency.
    p_alive: float | None = None
    predicted_orders: float | None = None
    clv: int | None = None
    # The ABC class (worker/measurement/abc.py), A best, and the weighted score (0 to 1) behind it.
    abc: str | None = Field(default=None, max_length=1)
    abc_score: float | None = None


class CustomerExternalId(SQLModel, table=True):
    """The id a platform knows a customer by, so a later webhook finds the same person."""

    __tablename__ = "customer_external_ids"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_customer_external_ids_source_account", "source", "account"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    # The platform account the id was seen in (a Shopify shop domain, a WooCommerce site, a
    # Stripe account): a shop's erasure reaches only its own customers. NULL: linked before
    # accounts were recorded (migration 0006), or by the API.
    account: str | None = Field(default=None, max_length=255)
