"""The rewards of a programme file (`[[reward]]`): what each takes off, what unlocks it, and
where its code comes from. Validated with the programme, so `ladder check` names file and line.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from triggers.schema import SLUG, Duration

# A partner offer is a code of another business's (a coalition partner's), from a catalogue
# the partner gave the shop, imported as the reward's pool.
RewardKind = Literal["amount_off", "percent_off", "free_shipping", "free_product", "partner_offer"]
# Where a reward's codes come from: a pool imported from the shop's export
# (`ladder loyalty codes import`), or created one by one through the platform's API.
CodeSource = Literal["pool", "shopify", "woocommerce"]
# What unlocks a reward besides points and spend: the date sweep's birthday, a friend's order,
# a paid member's yearly dividend (its amount their spend's share: `[membership]`).
Occasion = Literal["birthday", "referral", "dividend"]
MAX_REWARDS = 20
MAX_CHECKPOINTS = 10


class Reward(BaseModel):
    """One reward. Exactly one of `points`, `every_spent`, `at_spent` or `on` unlocks it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SLUG)
    title: str = Field(default="", max_length=200)  # what the email calls it
    kind: RewardKind
    # amount_off: money in the shop's currency; percent_off: 1-100; free_product: the most it
    # takes off (the item's price), for one item of `product`.
    value: Decimal | None = Field(default=None, gt=0, le=100_000)
    product: str | None = Field(default=None, min_length=1, max_length=128)
    partner: str | None = Field(default=None, min_length=1, max_length=100)  # partner_offer's
    codes: CodeSource = "pool"
    expires_after: Duration | None = timedelta(days=90)
    # The unlocks: spend the points; money back for every `every_spent` of net spend (the
    # money-back programme: 5 off every 35); a checkpoint of lifetime spend (B2B); an occasion.
    points: int | None = Field(default=None, gt=0, le=10_000_000)
    every_spent: Decimal | None = Field(default=None, gt=0, le=10_000_000)
    at_spent: tuple[Decimal, ...] | None = Field(
        default=None, min_length=1, max_length=MAX_CHECKPOINTS
    )
    on: Occasion | None = None

    @model_validator(mode="after")
    def _one_unlock_and_a_value(self) -> Reward:
        unlocks = [
            name
            for name in ("points", "every_spent", "at_spent", "on")
            if getattr(self, name) is not None
        ]
        if len(unlocks) != 1:
            found = ", ".join(unlocks) or "none"
            raise ValueError(
                f"reward {self.name!r} needs exactly one of points, every_spent, at_spent or on"
                f" (it has {found})"
            )
        if self.kind == "free_shipping" and self.value is not None:
            raise ValueError(f"reward {self.name!r}: free_shipping takes no value")
        if self.on == "dividend":
            return self._a_dividend()
        if self.kind not in ("free_shipping", "partner_offer") and self.value is None:
            raise ValueError(f"reward {self.name!r}: {self.kind} needs a value")
        if (self.kind == "partner_offer") != (self.partner is not None):
            raise ValueError(f"reward {self.name!r}: partner is for partner_offer, which needs it")
        if self.kind == "partner_offer" and self.codes != "pool":
            raise ValueError(
                f"reward {self.name!r}: a partner_offer's codes come from the partner's"
                ' catalogue: codes = "pool" (ladder loyalty codes import FILE --reward NAME)'
            )
        if self.kind == "percent_off" and self.value is not None and self.value > 100:
            raise ValueError(f"reward {self.name!r}: percent_off is at most 100")
        if (self.kind == "free_product") != (self.product is not None):
            raise ValueError(f"reward {self.name!r}: product is for free_product, which needs it")
        if self.at_spent is not None and list(self.at_spent) != sorted(set(self.at_spent)):
            raise ValueError(f"reward {self.name!r}: at_spent must rise, each above the last")
        return self

    def _a_dividend(self) -> Reward:
        """A dividend is money off, its amount each member's own; `value` is its most, and a
        pool's codes (each of one amount) cannot pay it."""
        if self.kind != "amount_off":
            raise ValueError(f"reward {self.name!r}: a dividend is amount_off")
        if self.codes == "pool":
            raise ValueError(
                f"reward {self.name!r}: a dividend's amount is each member's own, so its codes"
                ' are created through the platform: codes = "shopify" or "woocommerce"'
            )
        return self

    @property
    def unlock(self) -> str:
        """Which rule unlocks it: `points`, `every_spent`, `at_spent`, `birthday`, `referral`."""
        if self.on is not None:
            return self.on
        return next(n for n in ("points", "every_spent", "at_spent") if getattr(self, n))


def rewards_problem(rewards: tuple[Reward, ...]) -> str | None:
    """What is wrong with the rewards together (names used twice, an occasion rewarded by
    two); None when nothing is."""
    names = [reward.name for reward in rewards]
    if len(set(names)) != len(names):
        return f"reward names must be unique: {names}"
    for occasion in ("birthday", "referral", "dividend"):
        found = [reward.name for reward in rewards if reward.on == occasion]
        if len(found) > 1:
            return f"one reward per occasion: {occasion} has {found}"
    return None
