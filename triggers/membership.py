"""The `[membership]` section of a programme file: what a paid membership (a Stripe
subscription) gives while it is active, when its renewal is announced, how long a missed
payment is forgiven, and the yearly dividend (REI's co-op: a share of last year's spend back).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triggers.rewards import Reward
from triggers.schema import Duration

MAX_PLANS = 20


class Membership(BaseModel):
    """Benefits and timings of the paid membership. See triggers/README.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The Stripe price (or plan) ids that make a member; none listed: any subscription does.
    plans: tuple[str, ...] = Field(default=(), max_length=MAX_PLANS)
    # Stacked with the tier's: a gold member (1.5) who pays for membership (2) earns 3 a euro.
    multiplier: Decimal = Field(default=Decimal(1), ge=1, le=10)
    free_shipping: bool = False  # shown on the member's page and to templates
    renew_warn_before: Duration = timedelta(days=7)  # `membership.renewal_due` this long ahead
    # A period ended without a payment (a card declined, Stripe retrying): still a member this
    # long, then `membership.lapsed`.
    grace: Duration = timedelta(days=7)
    # The yearly dividend: this share of the member's spend (net of refunds) over each
    # membership year, as the programme's `on = "dividend"` reward. Unset: no dividend.
    dividend_share: Decimal | None = Field(default=None, gt=0, le=1)

    @field_validator("renew_warn_before")
    @classmethod
    def _ahead(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0 (a renewal is announced ahead of it)")
        return value

    @field_validator("plans")
    @classmethod
    def _once_each(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists a plan twice: {list(value)}")
        return value


def membership_problem(membership: Membership | None, rewards: tuple[Reward, ...]) -> str | None:
    """What is wrong between the membership and the rewards (a dividend without its reward, or
    the other way round); None when nothing is."""
    dividend = [reward.name for reward in rewards if reward.on == "dividend"]
    share = membership.dividend_share if membership is not None else None
    if share is not None and not dividend:
        return 'membership.dividend_share needs a reward with `on = "dividend"` to pay it'
    if dividend and share is None:
        return f'reward {dividend[0]!r} is `on = "dividend"`: set membership.dividend_share'
    return None
