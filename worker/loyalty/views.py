"""What a template sees of a customer's loyalty (`loyalty`): balances, tier, and how far the
next tier is, in the programme's own measure (spend in the shop's currency, or points)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from models import RewardState
from models.tables import LOYALTY_REWARDS
from models.types import minor_digits
from triggers.programme import Programme, load_programme
from triggers.rewards import Reward
from worker.loyalty import membership, tiers
from worker.loyalty.ledger import statement_of
from worker.loyalty.membership import membership_view

R = LOYALTY_REWARDS.c

# The names of `loyalty`; templates/README.md documents them.
NAMES = (
    "points",
    "pending",
    "tier",
    "multiplier",
    "next_tier",
    "to_next_tier",
    "progress",
    "tiers_by",
    "rewards",
    "membership",  # a paid membership: None, or the names of worker/loyalty/membership.py
    "points_per_unit",  # how the programme works: points per unit of the shop's currency
    "tiers",  # every tier, lowest first: the names of TIER_NAMES
)
# Each of `loyalty.tiers`: its name, the spend or points that reach it, its earn multiplier.
TIER_NAMES = ("name", "threshold", "multiplier")
# `loyalty.membership`: a paid membership's plan, status, period and benefits.
MEMBERSHIP_NAMES = membership.NAMES
# Each of `loyalty.rewards`: an unlocked reward with its code, soonest to expire first.
REWARD_NAMES = ("name", "title", "kind", "value", "product", "partner", "code", "expires_at")


@lru_cache(maxsize=8)
def programme_in(triggers_dir: Path, name: str | None) -> Programme | None:
    """The programme a process renders with, read once (like its templates)."""
    return load_programme(triggers_dir, name)


def loyalty_view(
    db: Session, programme: Programme, customer_id: int, *, currency: str, now: datetime
) -> dict[str, Any]:
    """The customer's `loyalty`: zero points and the tier their spend reaches if they have
    not earned yet. `to_next_tier` and `progress` (0 to 100) are None at the top tier."""
    member = statement_of(db, customer_id, entries=False).member
    reached = tiers.qualifying(db, programme, customer_id, currency=currency, now=now)
    # Not placed yet (no order since the programme began): the tier their figure reaches.
    tier = programme.named_tier(member.tier if member else None) or programme.tier_for(reached)
    following = programme.next_tier(tier.name if tier else None)
    to_next = progress = None
    if following is not None:
        to_next = max(Decimal(0), following.threshold - reached)
        base = tier.threshold if tier else Decimal(0)
        span = following.threshold - base
        progress = int(min(Decimal(100), max(Decimal(0), (reached - base) * 100 / span)))
    return {
        "points": member.points if member else 0,
        "pending": member.pending if member else 0,
        "tier": tier.name if tier else None,
        "multiplier": tier.multiplier if tier else Decimal(1),
        "next_tier": following.name if following else None,
        "to_next_tier": to_next,
        "progress": progress,
        "tiers_by": programme.tiers_by,
        "rewards": usable_rewards(db, programme, customer_id, currency=currency),
        "membership": membership_view(db, programme, customer_id, now=now),
        "points_per_unit": programme.earn.points_per_unit,
        "tiers": [
            {"name": t.name, "threshold": t.threshold, "multiplier": t.multiplier}
            for t in programme.tier
        ],
    }


def usable_rewards(
    db: Session, programme: Programme, customer_id: int, *, currency: str
) -> list[dict[str, Any]]:
    """The customer's rewards they can use now: unlocked, with a code, soonest to expire first
    (`value`: money in the shop's currency, or a percentage, as the programme file says)."""
    query = (
        select(R.reward, R.code, R.expires_at, R.value_minor)
        .where(R.customer_id == customer_id, R.state == RewardState.UNLOCKED.value)
        .where(R.code.is_not(None))
        .order_by(R.expires_at, R.id)
    )
    found = []
    for row in db.execute(query):
        reward = programme.named_reward(row.reward)
        found.append(
            {
                "name": row.reward,
                "title": reward.title if reward else row.reward,
                "kind": reward.kind if reward else None,
                "value": own_value(row, reward, currency=currency),
                "product": reward.product if reward else None,
                "partner": reward.partner if reward else None,
                "code": row.code,
                "expires_at": row.expires_at,
            }
        )
    return found


def own_value(row: Any, reward: Reward | None, *, currency: str) -> Decimal | None:
    """A reward's value: its own amount (a dividend's, in minor units on the row), else the
    programme file's."""
    if row.value_minor is not None:
        return Decimal(int(row.value_minor)).scaleb(-minor_digits(currency))
    return reward.value if reward else None
