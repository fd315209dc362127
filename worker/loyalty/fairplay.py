"""Fair play (Smile.io's rules): a birthday reward once a year, and not for a birthday given less
than 30 days before it; a referral reward only for a friend's first paid order kept past its
return window, never for a self-referral, nor when the friend's order shares the referrer's
card, browser or address (compared as digests). Every refusal is a reward row `refused` with
its reason, so `ladder loyalty rewards` shows why."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, cast, func, literal, or_, select
from sqlmodel import Session

from models import OrderStatus
from models.db import insert_ignoring_duplicates
from models.tables import CUSTOMERS, LOYALTY_FINGERPRINTS, LOYALTY_MEMBERS, LOYALTY_REWARDS, ORDERS
from triggers.programme import Programme
from triggers.rewards import Reward
from worker.loyalty import codes, rewards

C = CUSTOMERS.c
F = LOYALTY_FINGERPRINTS.c
O = ORDERS.c  # noqa: E741
BIRTHDAY_NOTICE = timedelta(days=30)
# The states of an order that was paid; a cancelled one may never have been.
PAID = (OrderStatus.PAID.value, OrderStatus.FULFILLED.value, OrderStatus.REFUNDED.value)


def occasion_reward(programme: Programme, occasion: str) -> Reward | None:
    return next((reward for reward in programme.reward if reward.on == occasion), None)


def record_fingerprints(
    db: Session, customer_id: int, fingerprints: Mapping[str, str | None], *, now: datetime
) -> None:
    """Keeps an order's fingerprints (already digests: worker/canonical.py), once each."""
    rows = [
        {"customer_id": customer_id, "kind": kind, "digest": value[-64:], "created_at": now}
        for kind, value in sorted(fingerprints.items())
        if value
    ]
    insert_ignoring_duplicates(db, LOYALTY_FINGERPRINTS, rows, F.id)


def _month_days(day: date) -> list[str]:
    """The 'MM-DD's celebrated on `day`: 29 February falls on the 28th in other years."""
    found = [f"{day:%m-%d}"]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        found.append("02-29")
    return found


def _month_day(dialect: str, column: Any) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(column, "MM-DD")
    return func.strftime("%m-%d", column)


def birthday_rewards(
    db: Session, programme: Programme, *, day: date, now: datetime
) -> tuple[int, int]:
    """The birthday reward for every member whose birthday is `day`: once a year
    (`birthday:<customer>:<year>`), refused for a birthday given under 30 days before it.
    Commits. Returns (unlocked, refused)."""
    reward = occasion_reward(programme, "birthday")
    if reward is None:
        return 0, 0
    dialect = db.get_bind().dialect.name
    query = (
        select(C.id, C.birthday_set_at)
        .join(LOYALTY_MEMBERS, LOYALTY_MEMBERS.c.customer_id == C.id)
        .where(_month_day(dialect, C.birthday).in_(_month_days(day)))
        .order_by(C.id)
    )
    celebrated = datetime.combine(day, time(), UTC)
    unlocked = refused = 0
    for customer_id, set_at in list(db.execute(query)):
        reason = None
        if set_at is not None and set_at > celebrated - BIRTHDAY_NOTICE:
            reason = f"birthday given on {set_at:%Y-%m-%d}, less than 30 days before it"
        cause = f"birthday:{customer_id}:{day.year}"
        found = rewards.record(
            db, reward, customer_id=customer_id, cause=cause, now=now, refused=reason
        )
        if found is not None and reason is None:
            codes.give_pool_codes(db, programme, now=now, reward_ids=[found])
        unlocked += found is not None and reason is None
        refused += found is not None and reason is not None
        db.commit()
    return unlocked, refused


def referral_rewards(db: Session, programme: Programme, *, now: datetime) -> tuple[int, int]:
    """Decides the referral of every referred customer whose first paid order has passed its
    return window (`referral:<friend>`, once): the referrer's reward, or a refusal with the
    reason. Commits. Returns (unlocked, refused)."""
    reward = occasion_reward(programme, "referral")
    if reward is None:
        return 0, 0
    settled = now - programme.earn.return_window
    unlocked = refused = 0
    for friend in list(db.execute(_undecided_friends(), {"settled": settled})):
        order = db.execute(_first_paid_order(), {"friend_id": friend.id}).first()
        if order is None or order.placed_at > settled:
            continue  # no paid order yet, or still inside its return window
        referrer = db.execute(select(C.id).where(C.email == friend.referred_by)).scalar()
        reason = _refusal(db, friend, order, referrer)
        owner = referrer if referrer is not None and referrer != friend.id else friend.id
        found = rewards.record(
            db, reward, customer_id=owner, cause=f"referral:{friend.id}", now=now, refused=reason
        )
        if found is not None and reason is None:
            codes.give_pool_codes(db, programme, now=now, reward_ids=[found])
        unlocked += found is not None and reason is None
        refused += found is not None and reason is not None
        db.commit()
    return unlocked, refused


def _refusal(db: Session, friend: Any, order: Any, referrer: int | None) -> str | None:
    if friend.referred_by == friend.email:
        return "self-referral: the customer named their own address"
    if referrer is None:
        return "referred by an address that is no customer of the shop"
    if order.status == OrderStatus.REFUNDED.value or order.shop_refunded > 0:
        return f"the friend's first paid order ({order.source_order_id}) was refunded"
    shared = sorted(
        db.execute(_shared_kinds(), {"friend_id": friend.id, "referrer_id": referrer}).scalars()
    )
    if shared:
        kinds = ", ".join({"payment": "card", "device": "browser"}.get(k, k) for k in shared)
        return f"the friend's orders share the referrer's {kinds}"
    return None


@cache
def _undecided_friends() -> Any:
    decided = select(LOYALTY_REWARDS.c.id).where(
        LOYALTY_REWARDS.c.cause == literal("referral:", String) + cast(C.id, String)
    )
    return (
        select(C.id, C.email, C.referred_by)
        .where(
            C.referred_by.is_not(None),
            C.first_order_at <= bindparam("settled"),
            ~decided.exists(),
        )
        .order_by(C.id)
    )


@cache
def _first_paid_order() -> Any:
    return (
        select(O.id, O.source_order_id, O.status, O.placed_at, O.shop_refunded)
        .where(
            O.customer_id == bindparam("friend_id"),
            or_(O.status.in_(PAID), O.shop_refunded > 0),
        )
        .order_by(O.placed_at, O.id)
        .limit(1)
    )


@cache
def _shared_kinds() -> Any:
    theirs = LOYALTY_FINGERPRINTS.alias("theirs")
    return (
        select(F.kind)
        .join(theirs, and_(theirs.c.kind == F.kind, theirs.c.digest == F.digest))
        .where(
            F.customer_id == bindparam("friend_id"),
            theirs.c.customer_id == bindparam("referrer_id"),
        )
        .distinct()
    )
