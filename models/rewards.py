"""Loyalty rewards: each one a customer unlocked (or was refused, with the reason), the code
pools imported from the shop's exports, and the fingerprints fair play compares (digests only).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class RewardState(StrEnum):
    UNLOCKED = "unlocked"  # the customer has it; its code may still be on its way
    REDEEMED = "redeemed"  # an order used its code: once, never again
    EXPIRED = "expired"  # not used before `expires_at`
    REFUSED = "refused"  # fair play said no (`reason`): kept so the shop sees why


class LoyaltyReward(SQLModel, table=True):
    """One reward of one customer. `cause` is unique (`points:<customer>:<n>`,
    `birthday:<customer>:<year>`, `referral:<friend>`, `spent:<customer>:<n>`): deciding the
    same reward twice, or two workers at once, adds one row."""

    __tablename__ = "loyalty_rewards"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    reward: str = Field(max_length=64)  # the programme file's `[[reward]]` name
    cause: str = Field(max_length=300, unique=True)
    state: RewardState = Field(sa_column=Column(String(16), nullable=False))
    reason: str | None = Field(default=None, max_length=500)  # why it was refused
    points: int = 0  # what it cost (a points reward), spent by a ledger entry of the same cause
    # The code the shop accepts; NULL until the pool or the platform's API gave one.
    code: str | None = Field(default=None, max_length=255, unique=True)
    code_source: str = Field(max_length=16)  # pool, shopify, woocommerce
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    redeemed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    order_id: int | None = Field(default=None, foreign_key="orders.id")  # the order that used it
    # Creating the code through a platform that was away: tried again, never a second code.
    issue_attempts: int = 0
    issue_error: str | None = Field(default=None, max_length=500)
    # A reward whose amount is its own, not the programme file's `value` (a membership's
    # dividend: a share of the member's spend), in minor units of the shop's currency.
    value_minor: int | None = None


class LoyaltyCode(SQLModel, table=True):
    """A code of a pool imported from the shop's export, for one reward; `reward_id` once given."""

    __tablename__ = "loyalty_codes"

    id: int | None = Field(default=None, primary_key=True)
    reward: str = Field(max_length=64, index=True)
    code: str = Field(max_length=255, unique=True)
    source: str = Field(max_length=16)  # the export it came from: shopify, woocommerce
    imported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reward_id: int | None = Field(
        default=None, foreign_key="loyalty_rewards.id", unique=True, nullable=True
    )


class LoyaltyFingerprint(SQLModel, table=True):
    """A digest of what an order says about who paid and from where (`payment`, `device`,
    `address`), so a referral between the same person's two addresses is refused. Never the
    value itself: a keyed digest (worker/loyalty/fairplay.py)."""

    __tablename__ = "loyalty_fingerprints"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    kind: str = Field(max_length=16)
    digest: str = Field(max_length=64, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
