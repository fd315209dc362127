"""Paid memberships (a Stripe subscription): one row per customer, kept current from the
`membership.*` events, and read for the member's benefits and the clock's sweeps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class MembershipStatus(StrEnum):
    ACTIVE = "active"  # paid up (or in a trial): the benefits apply until the period ends
    PAST_DUE = "past_due"  # a renewal failed; Stripe retries, the benefits last the grace
    CANCELLED = "cancelled"  # ended, or ending at the period's end: benefits until then
    LAPSED = "lapsed"  # the period and the grace passed without a payment (the clock's sweep)


class LoyaltyMembership(SQLModel, table=True):
    """A customer's paid membership. `status_at` is the time of the event that set the status:
    an older event told later changes nothing, and the period only ever moves forward."""

    __tablename__ = "loyalty_memberships"

    customer_id: int = Field(foreign_key="customers.id", primary_key=True)
    subscription_id: str | None = Field(default=None, max_length=255)
    plan: str | None = Field(default=None, max_length=255)  # the Stripe price (or plan) id
    status: MembershipStatus = Field(sa_column=Column(String(16), nullable=False))
    status_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    renews: bool = True  # False: cancelled at the period's end (`cancel_at_period_end`)
    period_start: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    period_end: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
