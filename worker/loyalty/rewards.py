"""Rewards: unlocked by points (spent by a ledger entry in the same transaction), by spend
(money back for every N, checkpoints), or by an occasion (worker/loyalty/fairplay.py); used once,
when an order names the code; expired after their time.

Each reward row is unique on its cause, so deciding it twice, or two workers at once, gives one
reward. A reward is announced (`reward.unlocked`) once it has its code (worker/loyalty/codes.py),
so the email that tells of it can show the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlmodel import Session

from models import EntryKind, RewardState
from models.db import insert_ignoring_duplicates
from models.tables import CUSTOMERS, LOYALTY_MEMBERS, LOYALTY_REWARDS
from models.types import UTCDateTime, minor_digits
from triggers.programme import Programme
from triggers.rewards import Reward
from worker.loyalty import ledger, notices

R = LOYALTY_REWARDS.c
M = LOYALTY_MEMBERS.c
# At most this many rewards unlocked for one customer at one time: a large adjustment or a
# B2B order does not fill a customer's inbox with codes.
MAX_AT_ONCE = 10


def record(
    db: Session,
    reward: Reward,
    *,
    customer_id: int,
    cause: str,
    now: datetime,
    refused: str | None = None,
    value_minor: int | None = None,
) -> int | None:
    """Records one reward for the customer, unlocked, or refused with the reason; returns its
    id, None if `cause` was decided before. A points reward spends its points in the same
    transaction (`reward:<id>`), so the balance stays the ledger's sum. `value_minor`: the
    reward's own amount (a dividend's), in minor units."""
    cost = 0 if refused else (reward.points or 0)
    row: dict[str, object] = {
        "customer_id": customer_id,
        "reward": reward.name,
        "cause": cause[:300],
        "state": (RewardState.REFUSED if refused else RewardState.UNLOCKED).value,
        "reason": refused[:500] if refused else None,
        "points": cost,
        "code_source": reward.codes,
        "created_at": now,
        "expires_at": now + reward.expires_after if reward.expires_after and not refused else None,
        "issue_attempts": 0,
        "value_minor": value_minor,
    }
    inserted = insert_ignoring_duplicates(db, LOYALTY_REWARDS, [row], R.id)
    if not inserted:
        return None
    reward_id = int(inserted[0])
    if cost:
        ledger.append(
            db,
            customer_id=customer_id,
            cause=f"reward:{reward_id}",
            kind=EntryKind.SPEND,
            points=-cost,
            reason=reward.name,
            now=now,
        )
    return reward_id


def unlock_for_points(db: Session, programme: Programme, customer_id: int, *, now: datetime) -> int:
    """Unlocks the points rewards the member's balance covers, each in the file's order, as
    long as it does (at most MAX_AT_ONCE); returns how many. The member is locked first, so
    two workers do not spend the same points."""
    priced = [reward for reward in programme.reward if reward.points]
    if not priced:
        return 0
    member = ledger.lock_member(db, customer_id)
    balance, unlocked = member.points, 0
    counts = _counts(db, customer_id)
    for reward in priced:
        assert reward.points is not None
        while balance >= reward.points and unlocked < MAX_AT_ONCE:
            counts[reward.name] = counts.get(reward.name, 0) + 1
            cause = f"points:{customer_id}:{reward.name}:{counts[reward.name]}"
            if record(db, reward, customer_id=customer_id, cause=cause, now=now) is None:
                break  # another worker decided this one: it spent the points
            balance -= reward.points
            unlocked += 1
    return unlocked


def _counts(db: Session, customer_id: int) -> dict[str, int]:
    rows = db.execute(_rewards_of_customer(), {"customer_id": customer_id})
    return {row.reward: int(row.n) for row in rows}


@cache
def _rewards_of_customer() -> Any:
    return (
        select(R.reward, func.count().label("n"))
        .where(R.customer_id == bindparam("customer_id"))
        .group_by(R.reward)
    )


def unlock_all_for_points(db: Session, programme: Programme, *, now: datetime) -> int:
    """The clock's pass after approvals: every member whose balance covers the cheapest points
    reward, one member a transaction (committed). Returns the rewards unlocked."""
    costs = [reward.points for reward in programme.reward if reward.points]
    if not costs:
        return 0
    query = select(M.customer_id).where(M.points >= min(costs)).order_by(M.customer_id)
    unlocked = 0
    for customer_id in list(db.execute(query).scalars()):
        unlocked += unlock_for_points(db, programme, customer_id, now=now)
        db.commit()
    return unlocked


def unlock_for_spend(
    db: Session,
    programme: Programme,
    customer_id: int,
    *,
    spent_minor: int,
    currency: str,
    now: datetime,
) -> int:
    """Money back (`every_spent`: one reward for every N of net spend so far) and checkpoints
    (`at_spent`: one at each lifetime spend passed) for a customer whose spend is now
    `spent_minor`. Each is numbered (`spent:<customer>:<reward>:<n>`), so an order told twice,
    or a later order, unlocks only what is new. Returns how many it unlocked."""
    spent = Decimal(spent_minor).scaleb(-minor_digits(currency))
    unlocked = 0
    for reward in programme.reward:
        if reward.every_spent is not None:
            reached = int(spent // reward.every_spent)
        elif reward.at_spent is not None:
            reached = sum(spent >= checkpoint for checkpoint in reward.at_spent)
        else:
            continue
        have = _counts(db, customer_id).get(reward.name, 0)
        for n in range(have + 1, min(reached, have + MAX_AT_ONCE) + 1):
            cause = f"spent:{customer_id}:{reward.name}:{n}"
            unlocked += (
                record(db, reward, customer_id=customer_id, cause=cause, now=now) is not None
            )
    return unlocked


@dataclass(frozen=True)
class Redemption:
    """An order event's codes, and whose order it is."""

    order_id: int
    source_order_id: str
    customer_id: int
    email: str
    codes: Sequence[str]


def redeem(db: Session, redemptions: Sequence[Redemption], *, now: datetime) -> int:
    """Marks redeemed each unlocked reward whose code an order names: once, by a
    compare-and-set (`unlocked → redeemed`), so the same order told again, or a second order
    with the same code, redeems nothing more. Returns how many were redeemed."""
    redeemed = 0
    for item in redemptions:
        for code in sorted(set(item.codes)):
            row = db.execute(
                _redeem(), {"b_code": code, "b_order_id": item.order_id, "b_now": now}
            ).first()
            if row is None:
                continue  # not a reward's code, or used already: another order got it first
            redeemed += 1
            email = db.execute(
                select(CUSTOMERS.c.email).where(CUSTOMERS.c.id == row.customer_id)
            ).scalar_one()
            notices.announce(
                db,
                event_type="reward.redeemed",
                key=str(row.id),
                customer_id=int(row.customer_id),
                email=email,
                data={"reward": row.reward, "code": code, "order_id": item.source_order_id},
                now=now,
            )
    return redeemed


@cache
def _redeem() -> Any:
    return (
        update(LOYALTY_REWARDS)
        .where(R.code == bindparam("b_code"), R.state == RewardState.UNLOCKED.value)
        .values(
            state=RewardState.REDEEMED.value,
            redeemed_at=bindparam("b_now", type_=UTCDateTime()),
            order_id=bindparam("b_order_id"),
        )
        .returning(R.id, R.customer_id, R.reward)
    )


def expire_due(db: Session, *, now: datetime) -> int:
    """Unused rewards past their `expires_at` expire, in one statement; returns how many."""
    statement = (
        update(LOYALTY_REWARDS)
        .where(R.state == RewardState.UNLOCKED.value, R.expires_at <= now)
        .values(state=RewardState.EXPIRED.value)
    )
    count = db.execute(statement).rowcount  # type: ignore[attr-defined]
    db.commit()
    return int(count)


def rewards_of(db: Session, customer_id: int | None = None, *, limit: int = 1000) -> list[Any]:
    """Rewards, newest first, with their customer's address: of one customer, or of all."""
    query = (
        select(LOYALTY_REWARDS, CUSTOMERS.c.email)
        .join(CUSTOMERS, CUSTOMERS.c.id == R.customer_id)
        .order_by(R.id.desc())
        .limit(limit)
    )
    if customer_id is not None:
        query = query.where(R.customer_id == customer_id)
    return list(db.execute(query))
