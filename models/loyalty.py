"""The loyalty ledger: one append-only row per change of a member's points, and the member's
running balances, kept equal to the ledger's sums in the same transaction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class EntryKind(StrEnum):
    EARN = "earn"  # an order's points, pending until its return window has passed
    APPROVE = "approve"  # pending points moved to the balance, once the window passed
    CLAWBACK = "clawback"  # a refund or cancellation takes back what its order earned
    ADJUST = "adjust"  # a person's correction, with its reason
    EXPIRE = "expire"  # the balance lapsed after the programme's inactivity period
    SPEND = "spend"  # points spent on a reward (`reward:<reward id>`)
    ACTION = "action"  # an action's points (`action:<action>:<event id>`): a review, a follow…
    REFUSED = "refused"  # an action's earn refused (0 points), with the reason: over its limit
    DONATE = "donate"  # points given to a cause (`reason`: the cause's name)


class LoyaltyEntry(SQLModel, table=True):
    """One change, never updated. `cause` is unique: applying the same cause twice (an event
    told twice, two workers racing) adds one row."""

    __tablename__ = "loyalty_entries"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    cause: str = Field(max_length=300, unique=True)  # `order:<id>:earn`, `adjust:<key>`, …
    kind: EntryKind = Field(sa_column=Column(String(16), nullable=False))
    points: int = 0  # the change to the spendable balance
    pending: int = 0  # the change to the points waiting for their return window
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    reason: str | None = Field(default=None, max_length=500)  # an adjustment's, as written
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # An earn's end of the return window: the approval sweep moves it to the balance then.
    available_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class LoyaltyMember(SQLModel, table=True):
    """A customer's balances (the sums of their entries) and tier."""

    __tablename__ = "loyalty_members"

    customer_id: int = Field(foreign_key="customers.id", primary_key=True)
    points: int = 0
    pending: int = 0
    tier: str | None = Field(default=None, max_length=64)
    # Counts the tier's changes: the id of each `tier.changed` event, so a rerun adds none.
    tier_version: int = 0
    tier_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Since when they no longer qualify for their tier: the downgrade waits out the grace.
    below_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
