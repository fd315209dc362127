"""The clock's daily work for paid memberships: `membership.renewal_due` once per period
ahead of its end, `membership.lapsed` once when a period and its grace passed without a
payment, and the yearly dividend (a share of each membership year's spend, as a reward).

Each is idempotent by its cause: the events are named by customer and period end, the
dividend by customer and membership year (`dividend:<customer>:<year>`), so a rerun, or a
second clock, adds nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from models import MembershipStatus
from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, LOYALTY_MEMBERSHIPS, LOYALTY_REWARDS, ORDERS
from models.types import minor_digits
from triggers.membership import Membership
from triggers.programme import Programme
from worker.loyalty import notices, rewards
from worker.loyalty.membership import is_active

S = LOYALTY_MEMBERSHIPS.c
R = LOYALTY_REWARDS.c
O = ORDERS.c  # noqa: E741
MEMBERSHIP_YEAR = timedelta(days=365)
# Still paying: what a renewal is announced to, and what lapses without a payment.
RUNNING = (MembershipStatus.ACTIVE.value, MembershipStatus.PAST_DUE.value)
NOT_LAPSED = (*RUNNING, MembershipStatus.CANCELLED.value)


def sweep(db: Session, programme: Programme, *, currency: str, now: datetime) -> dict[str, int]:
    """The three sweeps, each committed; what each did, for the clock's report."""
    membership = programme.membership
    if membership is None:
        return {}
    return {
        "renewal_due": announce_renewals(db, membership, now=now),
        "lapsed": lapse(db, membership, now=now),
        "dividends": pay_dividends(db, programme, currency=currency, now=now),
    }


def _counted(membership: Membership) -> list[Any]:
    """The plans the programme counts (all of them when it lists none)."""
    return [S.plan.in_(membership.plans)] if membership.plans else []


def _stamp(customer_id: int, period_end: datetime) -> str:
    return f"{customer_id}:{period_end:%Y%m%dT%H%M%S}"


def announce_renewals(db: Session, membership: Membership, *, now: datetime) -> int:
    """`membership.renewal_due` for every running membership whose period ends within
    `renew_warn_before`: one statement to find them, one to store the events. Returns how
    many were new."""
    found = db.execute(
        select(S.customer_id, CUSTOMERS.c.email, S.plan, S.period_end, S.renews)
        .join(CUSTOMERS, CUSTOMERS.c.id == S.customer_id)
        .where(
            S.status.in_(RUNNING),
            S.period_end > now,
            S.period_end <= now + membership.renew_warn_before,
            *_counted(membership),
        )
    )
    events = [
        notices.notice(
            event_type="membership.renewal_due",
            key=_stamp(row.customer_id, row.period_end),
            customer_id=row.customer_id,
            email=row.email,
            data={
                "plan": row.plan,
                "period_end": row.period_end.isoformat(),
                "renews": bool(row.renews),
            },
            now=now,
        )
        for row in found
    ]
    added = notices.announce_many(db, events)
    db.commit()
    return added


def lapse(db: Session, membership: Membership, *, now: datetime) -> int:
    """Memberships whose period ended `grace` ago without a payment that moved it on become
    lapsed, in one compare-and-set statement; each gets `membership.lapsed` once. Returns
    how many lapsed."""
    lapsed = db.execute(
        update(LOYALTY_MEMBERSHIPS)
        .where(
            S.status.in_(NOT_LAPSED),
            S.period_end <= now - membership.grace,
            *_counted(membership),
        )
        .values(status=MembershipStatus.LAPSED.value)
        .returning(S.customer_id, S.plan, S.period_end)
    ).all()
    ids = [row.customer_id for row in lapsed]
    found = db.execute(select(CUSTOMERS.c.id, CUSTOMERS.c.email).where(CUSTOMERS.c.id.in_(ids)))
    emails = {row.id: row.email for row in found}
    events = [
        notices.notice(
            event_type="membership.lapsed",
            key=_stamp(row.customer_id, row.period_end),
            customer_id=row.customer_id,
            email=emails[row.customer_id],
            data={"plan": row.plan, "period_end": row.period_end.isoformat()},
            now=now,
        )
        for row in lapsed
    ]
    notices.announce_many(db, events)
    db.commit()
    return len(lapsed)


def pay_dividends(db: Session, programme: Programme, *, currency: str, now: datetime) -> int:
    """Every member now whose membership year has ended since their last dividend gets
    `dividend_share` of that year's spend (net of refunds; at most the reward's `value`), as
    the programme's dividend reward; a year without spend is recorded refused, with the
    reason, so it is decided once. One member a transaction. Returns the dividends paid."""
    membership = programme.membership
    reward = next((r for r in programme.reward if r.on == "dividend"), None)
    if membership is None or membership.dividend_share is None or reward is None:
        return 0
    candidates = db.execute(
        select(LOYALTY_MEMBERSHIPS)
        .where(S.status.in_(NOT_LAPSED), S.started_at <= now - MEMBERSHIP_YEAR)
        .order_by(S.customer_id)
    ).all()
    due = {}
    for row in candidates:
        if is_active(row, membership, at=now):
            years = (now - row.started_at) // MEMBERSHIP_YEAR
            due[f"dividend:{row.customer_id}:{years}"] = (row, years)
    decided = set(db.execute(select(R.cause).where(R.cause.in_(list(due)))).scalars())
    digits = minor_digits(currency)
    most = int((reward.value or Decimal(0)).scaleb(digits)) if reward.value else None
    paid = 0
    for cause, (row, years) in due.items():
        if cause in decided:
            continue
        ends = row.started_at + years * MEMBERSHIP_YEAR
        spent = _spend(db, row.customer_id, since=ends - MEMBERSHIP_YEAR, until=ends)
        share = Decimal(spent) * membership.dividend_share
        amount = int(share.to_integral_value(rounding=ROUND_FLOOR))
        amount = min(amount, most) if most is not None else amount
        refused = None if amount > 0 else "no spend in the membership year"
        recorded = rewards.record(
            db,
            reward,
            customer_id=row.customer_id,
            cause=cause,
            now=now,
            refused=refused,
            value_minor=amount if refused is None else None,
        )
        paid += recorded is not None and refused is None
        db.commit()
    return paid


def _spend(db: Session, customer_id: int, *, since: datetime, until: datetime) -> int:
    """The customer's spend between the times, in minor units of the shop's currency."""
    return int(
        db.execute(
            select(func.coalesce(func.sum(O.shop_total - O.shop_refunded), 0)).where(
                O.customer_id == customer_id,
                O.placed_at >= since,
                O.placed_at < until,
                O.status.not_in([status.value for status in UNCOUNTED_STATUSES]),
            )
        ).scalar_one()
    )
