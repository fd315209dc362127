"""Loyalty members against non-members over a period (retention, repeat rate, order value,
revenue per customer, each difference with a 95 % interval and a verdict in words), and the
programme's cost (rewards redeemed, points outstanding) against its incremental revenue.

Both groups are the customers who had bought before the period began (a counting order placed
before `since`): members are those of them with a ledger entry by then, in the programme when
the period began; non-members the rest. The programme enrols every customer whose order it
sees, so a customer who joined in the period is left out of both rather than counted a member
for the order that made them one. Members select themselves (they bought while the programme
ran, or chose to join): a difference is between groups, not what the programme did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, case, cast, exists, func, literal, select
from sqlmodel import Session

from models import RewardState
from models.orders import UNCOUNTED_STATUSES
from models.tables import LOYALTY_ENTRIES, LOYALTY_REWARDS, ORDERS
from models.types import UTCDateTime, minor_digits
from triggers.programme import Programme
from triggers.rewards import Reward
from worker.measurement.lift import (
    MIN_OUTCOMES,
    MIN_PER_GROUP,
    Group,
    Interval,
    moments_interval,
    rate_interval,
    too_small_groups,
)

O = ORDERS.c  # noqa: E741
E = LOYALTY_ENTRIES.c
R = LOYALTY_REWARDS.c


@dataclass(frozen=True)
class Side:
    """One group's moments: enough for every rate, mean and interval the report shows."""

    customers: int  # who had bought before the period
    retained: int  # of them, who placed a counting order in it
    repeated: int  # of those, who placed two or more in it
    orders: int  # their counting orders in the period
    revenue: int  # minor units, net of refunds
    revenue_squares: float  # the sum of each customer's period revenue squared
    order_squares: float  # the sum of each order's net value squared

    @property
    def buyers(self) -> Group:
        """Customers, who came back, and what they brought: retention and revenue/customer."""
        return Group(self.customers, self.retained, self.revenue)

    @property
    def repeaters(self) -> Group:
        return Group(self.retained, self.repeated, self.revenue)

    @property
    def basket(self) -> Group:
        """Orders and their revenue: the mean is the average order value."""
        return Group(self.orders, self.orders, self.revenue)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "retained": self.retained,
            "retention": _ratio(self.retained, self.customers),
            "repeat_buyers": self.repeated,
            "repeat_rate": _ratio(self.repeated, self.retained),
            "orders": self.orders,
            "revenue": self.revenue,
            "average_order_value": _ratio(self.revenue, self.orders),
            "revenue_per_customer": _ratio(self.revenue, self.customers),
        }


@dataclass(frozen=True)
class Redeemed:
    reward: str  # the programme file's name
    count: int
    value: int | None  # minor units taken off, None: not known (free shipping, gone from file)


@dataclass(frozen=True)
class Comparison:
    since: datetime
    until: datetime
    members: Side
    others: Side
    retention: Interval  # members minus non-members, as a share
    repeat: Interval
    order_value: Interval  # minor units
    per_customer: Interval  # minor units
    too_small: bool
    verdict: str
    redeemed: list[Redeemed]
    points_outstanding: int  # spendable at the period's end (the ledger's sum then)
    liability: int | None  # those points at the best amount-off points reward's rate
    incremental: Interval  # per-customer difference times the members
    cost_verdict: str

    @property
    def cost(self) -> int:
        return sum(r.value or 0 for r in self.redeemed)

    @property
    def ratio(self) -> float | None:
        """Incremental revenue per unit of cost; None with no cost or no comparison."""
        if not self.cost or math.isnan(self.incremental.difference):  # no one to compare
            return None
        return self.incremental.difference / self.cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.date().isoformat(),
            "until": self.until.date().isoformat(),
            "members": self.members.as_dict(),
            "non_members": self.others.as_dict(),
            "retention_difference": _interval(self.retention),
            "repeat_rate_difference": _interval(self.repeat),
            "average_order_value_difference": _interval(self.order_value),
            "revenue_per_customer_difference": _interval(self.per_customer),
            "too_small": self.too_small,
            "verdict": self.verdict,
            "rewards_redeemed": [
                {"reward": r.reward, "count": r.count, "value": r.value} for r in self.redeemed
            ],
            "cost": self.cost,
            "points_outstanding": self.points_outstanding,
            "liability": self.liability,
            "incremental_revenue": _interval(self.incremental),
            "incremental_per_cost": self.ratio,
            "cost_verdict": self.cost_verdict,
        }


def _ratio(part: float, whole: int) -> float | None:
    return part / whole if whole else None


def _interval(i: Interval) -> dict[str, float | None]:
    values = {k: getattr(i, k) for k in ("difference", "low", "high")}
    return {k: None if math.isnan(v) else v for k, v in values.items()}


def _at(moment: datetime) -> Any:
    return literal(moment, UTCDateTime())


def compare(
    db: Session,
    programme: Programme | None,
    *,
    since: datetime,
    until: datetime,
    currency: str,
    global_holdout: float = 0.0,
) -> Comparison:
    """Members against non-members over [since, until), and the programme's cost in it.
    Three statements, each a few rows however many customers."""
    members, others = _sides(db, since=since, until=until)
    retention = _spread_known(
        rate_interval(members.buyers, others.buyers), members.customers, others.customers
    )
    repeat = _spread_known(
        rate_interval(members.repeaters, others.repeaters), members.retained, others.retained
    )
    order_value = _spread_known(
        moments_interval(
            members.basket, members.order_squares, others.basket, others.order_squares
        ),
        members.orders, others.orders,
    )  # fmt: skip
    per_customer = _spread_known(
        moments_interval(
            members.buyers, members.revenue_squares, others.buyers, others.revenue_squares
        ),
        members.customers, others.customers,
    )  # fmt: skip
    small = too_small_groups(members.buyers, others.buyers)
    verdict = _verdict(members, others, retention, per_customer, small, global_holdout)
    redeemed = _redeemed(db, programme, since=since, until=until, currency=currency)
    outstanding = _points_outstanding(db, until)
    rate = _point_value(programme, currency) if programme else None
    liability = None if rate is None else round(outstanding * rate)
    n = members.customers
    incremental = Interval(per_customer.difference * n, per_customer.low * n, per_customer.high * n)
    cost = sum(r.value or 0 for r in redeemed)
    cost_verdict = _cost_verdict(incremental, cost, small, currency, compared=others.customers)
    return Comparison(
        since, until, members, others, retention, repeat, order_value, per_customer, small,
        verdict, redeemed, outstanding, liability, incremental, cost_verdict,
    )  # fmt: skip


def _spread_known(found: Interval, *counts: int) -> Interval:
    """No interval while a group has fewer than two values (customers, or orders): its spread
    is not known."""
    if min(counts) < 2:
        return Interval(found.difference, math.nan, math.nan)
    return found


def _sides(db: Session, *, since: datetime, until: datetime) -> tuple[Side, Side]:
    counting = O.status.not_in([s.value for s in UNCOUNTED_STATUSES])
    in_period = O.placed_at >= _at(since)
    net = cast(O.shop_total - O.shop_refunded, Float)
    per_customer = (
        select(
            O.customer_id,
            func.count(case((in_period, 1))).label("orders"),
            func.coalesce(func.sum(case((in_period, O.shop_total - O.shop_refunded))), 0).label(
                "revenue"
            ),
            func.coalesce(func.sum(case((in_period, net * net))), 0.0).label("order_squares"),
        )
        .where(counting, O.placed_at < _at(until))
        .group_by(O.customer_id)
        # Bought before the period: the base both groups are drawn from.
        .having(func.count(case((O.placed_at < _at(since), 1))) > 0)
        .subquery("per_customer")
    )
    p = per_customer.c
    joined = exists().where(E.customer_id == p.customer_id, E.created_at < _at(since))
    member = case((joined, 1), else_=0).label("member")
    revenue = cast(p.revenue, Float)
    statement = select(
        member,
        func.count().label("customers"),
        func.count(case((p.orders > 0, 1))).label("retained"),
        func.count(case((p.orders > 1, 1))).label("repeated"),
        func.coalesce(func.sum(p.orders), 0).label("orders"),
        func.coalesce(func.sum(p.revenue), 0).label("revenue"),
        func.coalesce(func.sum(revenue * revenue), 0.0).label("revenue_squares"),
        func.coalesce(func.sum(p.order_squares), 0.0).label("order_squares"),
    ).group_by(member)
    found = {bool(row.member): _side(row) for row in db.execute(statement)}
    empty = Side(0, 0, 0, 0, 0, 0.0, 0.0)
    return found.get(True, empty), found.get(False, empty)


def _side(row: Any) -> Side:
    counts = (int(row.customers), int(row.retained), int(row.repeated), int(row.orders))
    return Side(*counts, int(row.revenue), float(row.revenue_squares), float(row.order_squares))


def _redeemed(
    db: Session, programme: Programme | None, *, since: datetime, until: datetime, currency: str
) -> list[Redeemed]:
    """Rewards redeemed in the period, by name, valued at what they took off: an amount off
    its amount, a free product its most, a percent off that share of the order before it
    (the order's total is after it); free shipping is counted, not valued."""
    statement = (
        select(R.reward, func.count().label("n"), func.sum(O.shop_total).label("totals"))
        .select_from(LOYALTY_REWARDS.outerjoin(ORDERS, O.id == R.order_id))
        .where(
            R.state == RewardState.REDEEMED.value,
            R.redeemed_at >= _at(since),
            R.redeemed_at < _at(until),
        )
        .group_by(R.reward)
        .order_by(R.reward)
    )
    named = {r.name: r for r in programme.reward} if programme else {}
    return [
        Redeemed(
            row.reward,
            int(row.n),
            _value(named.get(row.reward), int(row.n), int(row.totals or 0), currency),
        )
        for row in db.execute(statement)
    ]


def _value(reward: Reward | None, count: int, totals: int, currency: str) -> int | None:
    if reward is None or reward.value is None:
        return None
    if reward.kind == "percent_off":
        if reward.value >= 100:
            return None  # the order's total no longer says what it took off
        return round(Decimal(totals) * reward.value / (100 - reward.value))
    return round(reward.value.scaleb(minor_digits(currency)) * count)


def _points_outstanding(db: Session, until: datetime) -> int:
    """The spendable balance of every member at `until`: the ledger's sum of the entries
    made before it (the balance always equals it)."""
    total = db.execute(
        select(func.coalesce(func.sum(E.points), 0)).where(E.created_at < _at(until))
    ).scalar_one()
    return int(total)


def _point_value(programme: Programme, currency: str) -> float | None:
    """Minor units a point is worth at the best amount-off reward bought with points."""
    rates = [
        float(r.value.scaleb(minor_digits(currency))) / r.points
        for r in programme.reward
        if r.kind == "amount_off" and r.points and r.value is not None
    ]
    return max(rates) if rates else None


SELF_SELECTION = (
    "Members are not a random group: they bought while the programme ran or chose to join, so"
    " this is a difference between groups, not what the programme did."
)


def _points(share: float) -> str:
    return f"{share * 100:+.1f}"


def _verdict(
    members: Side,
    others: Side,
    retention: Interval,
    per_customer: Interval,
    small: bool,
    global_holdout: float,
) -> str:
    holdout = (
        " The global holdout keeps customers from marketing emails, not from the programme, so"
        " it does not make this a causal lift."
        if global_holdout > 0
        else ""
    )
    if not others.customers:
        return (
            f"No one to compare with: all {members.customers:,} customers who bought before the"
            " period were members (the programme enrols every buyer)." + holdout
        )
    if small:
        return (
            f"Too few to tell: {members.customers:,} members ({members.retained:,} came back)"
            f" and {others.customers:,} non-members ({others.retained:,} came back); the"
            f" interval needs at least {MIN_PER_GROUP} customers and {MIN_OUTCOMES} who came"
            " back and who did not in each. " + SELF_SELECTION + holdout
        )
    shown = (
        f"{_points(retention.difference)} points (95 % CI {_points(retention.low)} to"
        f" {_points(retention.high)})"
    )
    if retention.excludes_zero:
        way = "more" if retention.difference > 0 else "less"
        said = f"Members came back {way} often than non-members: {shown}"
    else:
        said = f"No difference in coming back shown: {shown}, an interval that includes zero"
    money = (
        "revenue per customer differs too"
        if per_customer.excludes_zero
        else "revenue per customer differs by no more than chance"
    )
    return f"{said}; {money}. " + SELF_SELECTION + holdout


def _cost_verdict(
    incremental: Interval, cost: int, small: bool, currency: str, *, compared: int
) -> str:
    digits = minor_digits(currency)

    def shown(minor: float) -> str:
        return f"{minor / 10**digits:,.{digits}f} {currency}"

    spent = f"Rewards redeemed cost {shown(cost)}"
    if not compared:
        return f"{spent}; with no non-members to compare with, what it earned is not known."
    if math.isnan(incremental.low) or small:
        return f"{spent}; too few to tell what it earned (the members' verdict says why)."
    ratio = f", {incremental.difference / cost:.1f} times their cost" if cost else ""
    way = "more" if incremental.difference >= 0 else "less"
    return (
        f"{spent}; members brought {shown(abs(incremental.difference))} {way} than as many"
        f" non-members would have (95 % CI {shown(incremental.low)} to"
        f" {shown(incremental.high)}){ratio}. An upper bound more than a measure: members who"
        " would have bought anyway count as the programme's."
    )
