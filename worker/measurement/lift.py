"""Lift from holdouts: for each trigger with a control group, the customers it mailed against
those it held out, over the same window after each was chosen, with a 95 % interval and a
verdict in words that says when there are too few to tell.

Both groups are every customer the trigger chose in the period (its cooldown and conditions
passed; the holdout is decided by a hash of trigger and customer when the row is made), not
just those whose email went: a mailed customer whose email was cancelled by an order of their
own stays mailed, as a held-out one who ordered stays held out (intention to treat). Customers
in the global holdout are left out of every trigger's groups: they are the whole programme's
control group (`programme_lift`), held out of every trigger at once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, literal, or_, select
from sqlmodel import Session

from models import DeliveryStatus
from models.db import roomy_sorts
from models.tables import CUSTOMERS, DELIVERIES, ORDERS
from models.types import UTCDateTime, plus_seconds
from worker.measurement.assignment import GLOBAL_REASON, global_holdout_sql
from worker.measurement.performance import net_revenue

Z95 = 1.959964  # two-sided 95 %
Z80_POWER = 0.841621  # 80 % power, for "how many would it take"
# Below these, the normal approximation the interval rests on does not hold: too few to tell.
MIN_PER_GROUP = 30
MIN_OUTCOMES = 5  # converters and non-converters, in each group


@dataclass(frozen=True)
class Group:
    customers: int
    converted: int
    revenue: int  # minor units of the shop's currency, net of refunds

    @property
    def rate(self) -> float:
        return self.converted / self.customers if self.customers else 0.0

    @property
    def per_customer(self) -> float:
        return self.revenue / self.customers if self.customers else 0.0


@dataclass(frozen=True)
class Interval:
    difference: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Lift:
    trigger: str
    mailed: Group
    held_out: Group
    conversion: Interval  # mailed minus held out, as a share (0.041: 4.1 points)
    revenue: Interval  # mailed minus held out, minor units per customer
    too_small: bool
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        def group(g: Group) -> dict[str, Any]:
            return {
                "customers": g.customers,
                "converted": g.converted,
                "conversion_rate": round(g.rate, 4),
                "revenue": g.revenue,
                "revenue_per_customer": round(g.per_customer, 2),
            }

        def interval(i: Interval, digits: int) -> dict[str, float | None]:
            values = {k: getattr(i, k) for k in ("difference", "low", "high")}
            return {k: None if math.isnan(v) else round(v, digits) for k, v in values.items()}

        return {
            "trigger": self.trigger,
            "mailed": group(self.mailed),
            "held_out": group(self.held_out),
            "conversion_difference": interval(self.conversion, 4),
            "revenue_per_customer_difference": interval(self.revenue, 2),
            "too_small": self.too_small,
            "verdict": self.verdict,
        }


def lifts(db: Session, *, since: datetime | None, until: datetime | None) -> list[Lift]:
    """One Lift for each trigger that held anyone out among its rows due in [since, until).

    One statement, set-based: each (trigger, customer) is in the group its first row says (the
    hash is theirs), and brought the net revenue of their orders inside any of their windows
    (each order once); the groups' counts, buyers, revenue and its sum of squares come back,
    a few rows per trigger however many customers. Each row looks up, by the orders' index,
    only its customer's orders in the part of its window no earlier row of theirs covered: a
    join of every row with every order of its customer grew with the square of a frequent
    buyer's orders (34.8 s at a million customers)."""
    d, o = DELIVERIES.c, ORDERS.c
    held = DeliveryStatus.HELD_OUT.value
    chosen = select(
        d.id, d.trigger, d.customer_id, d.status, d.send_at,
        plus_seconds(d.send_at, d.attribution_window_s).label("until"),
    ).where(
        d.status != DeliveryStatus.SKIPPED.value,
        or_(d.reason.is_(None), ~d.reason.startswith(GLOBAL_REASON)),
    )  # fmt: skip
    if since is not None:
        chosen = chosen.where(d.send_at >= since)
    if until is not None:
        chosen = chosen.where(d.send_at < until)
    rows = chosen.cte("chosen")
    with_holdout = select(rows.c.trigger).where(rows.c.status == held).distinct()
    rows_held = select(rows).where(rows.c.trigger.in_(with_holdout)).cte("rows_held")
    r = rows_held.c
    over: dict[str, Any] = {
        "partition_by": (r.customer_id, r.trigger), "order_by": (r.send_at, r.id),
    }  # fmt: skip
    ranked = select(
        r.trigger, r.customer_id, r.send_at, r.until,
        case((r.status == held, 1), else_=0).label("held"),
        func.row_number().over(**over).label("n"),
        # How far this customer's earlier windows of the trigger reach: they cover everything
        # from this row's start up to there, as it starts no earlier than any of them.
        func.max(r.until).over(**over, rows=(None, -1)).label("covered"),
    ).subquery("ranked")  # fmt: skip
    k = ranked.c
    covered = func.coalesce(k.covered, literal(datetime.min.replace(tzinfo=UTC), UTCDateTime()))
    # The orders in the part of its window no earlier row covered: each order once per trigger
    # and customer without a DISTINCT, each found through ix_orders_customer_placed_net and
    # read from it alone (it includes what net_revenue reads; migration 0025).
    new_orders = (
        select(func.coalesce(func.sum(net_revenue()), 0))
        .where(o.customer_id == k.customer_id, o.placed_at >= k.send_at,
               o.placed_at > covered, o.placed_at <= k.until)
        .scalar_subquery()
    )  # fmt: skip
    earned = (
        select(
            k.trigger, k.customer_id, func.max(case((k.n == 1, k.held))).label("held"),
            func.sum(case((k.until > covered, new_orders), else_=0)).label("revenue"),
        )
        .group_by(k.customer_id, k.trigger)
        .subquery("earned")
    )  # fmt: skip
    e = earned.c
    revenue = e.revenue
    statement = (
        select(
            e.trigger, e.held, func.count().label("customers"),
            func.sum(case((revenue > 0, 1), else_=0)).label("converted"),
            func.sum(revenue).label("revenue"),
            func.sum(cast(revenue, Float) * cast(revenue, Float)).label("squares"),
        )
        .group_by(e.trigger, e.held)
    )  # fmt: skip
    roomy_sorts(db)  # every row ranked per trigger and customer
    moments: dict[str, dict[bool, Any]] = defaultdict(dict)
    for row in db.execute(statement):
        moments[row.trigger][bool(row.held)] = row
    return [_lift(trigger, moments[trigger]) for trigger in sorted(moments)]


def _lift(trigger: str, moments: dict[bool, Any]) -> Lift:
    groups = {
        held: Group(int(row.customers), int(row.converted or 0), int(row.revenue or 0))
        for held, row in moments.items()
    }
    mailed, held_out = groups.get(False, Group(0, 0, 0)), groups.get(True, Group(0, 0, 0))
    squares = {held: float(row.squares or 0) for held, row in moments.items()}
    conversion = rate_interval(mailed, held_out)
    money = moments_interval(mailed, squares.get(False, 0.0), held_out, squares.get(True, 0.0))
    too_small = too_small_groups(mailed, held_out)
    verdict = _verdict(mailed, held_out, conversion, money, too_small)
    return Lift(trigger, mailed, held_out, conversion, money, too_small, verdict)


# The whole programme's line in the lift table.
PROGRAMME = "all marketing"


def programme_lift(db: Session, *, share: float, since: datetime, until: datetime) -> Lift | None:
    """Every customer who could get marketing (consent now, known before `until`): those in the
    global holdout against the rest, by who bought in [since, until) and their net revenue
    then. None without a global holdout. One statement, set-based, however many customers."""
    if share <= 0:
        return None
    o, c = ORDERS.c, CUSTOMERS.c
    spent = (
        select(o.customer_id, func.sum(net_revenue()).label("revenue"))
        .where(o.placed_at >= since, o.placed_at < until)
        .group_by(o.customer_id)
        .subquery()
    )
    revenue = func.coalesce(spent.c.revenue, 0)
    held = case((global_holdout_sql(c.id, share), 1), else_=0).label("held")
    statement = (
        select(
            held,
            func.count().label("customers"),
            func.sum(case((revenue > 0, 1), else_=0)).label("converted"),
            func.sum(revenue).label("revenue"),
            func.sum(cast(revenue, Float) * cast(revenue, Float)).label("squares"),
        )
        .select_from(CUSTOMERS.outerjoin(spent, spent.c.customer_id == c.id))
        .where(c.accepts_marketing.is_(True), c.created_at < until)
        .group_by(held)
    )
    return _lift(PROGRAMME, {bool(row.held): row for row in db.execute(statement)})


def moments_interval(a: Group, a_squares: float, b: Group, b_squares: float) -> Interval:
    """`_mean_interval` from each group's count, sum and sum of squares."""
    if not a.customers or not b.customers:
        return Interval(math.nan, math.nan, math.nan)

    def variance(g: Group, squares: float) -> float:
        if g.customers < 2:
            return 0.0
        return max(squares - g.customers * g.per_customer**2, 0.0) / (g.customers - 1)

    diff = a.per_customer - b.per_customer
    se = math.sqrt(variance(a, a_squares) / a.customers + variance(b, b_squares) / b.customers)
    return Interval(diff, diff - Z95 * se, diff + Z95 * se)


def rate_interval(a: Group, b: Group) -> Interval:
    """Difference of two proportions, Wald interval (unpooled)."""
    diff = a.rate - b.rate
    if not a.customers or not b.customers:
        return Interval(diff, math.nan, math.nan)
    se = math.sqrt(a.rate * (1 - a.rate) / a.customers + b.rate * (1 - b.rate) / b.customers)
    return Interval(diff, diff - Z95 * se, diff + Z95 * se)


def too_small_groups(a: Group, b: Group) -> bool:
    for g in (a, b):
        if g.customers < MIN_PER_GROUP:
            return True
        if min(g.converted, g.customers - g.converted) < MIN_OUTCOMES:
            return True
    return False


def needed_per_group(a: Group, b: Group) -> int | None:
    """About how many customers each group needs to tell a difference as large as the one
    seen (two-sided 5 %, 80 % power); None when no difference was seen."""
    diff = a.rate - b.rate
    if diff == 0:
        return None
    spread = a.rate * (1 - a.rate) + b.rate * (1 - b.rate)
    return math.ceil((Z95 + Z80_POWER) ** 2 * max(spread, 1e-9) / diff**2)


def _points(share: float) -> str:
    return f"{share * 100:+.1f}"


def _verdict(a: Group, b: Group, rate: Interval, revenue: Interval, too_small: bool) -> str:
    if too_small:
        need = needed_per_group(a, b)
        more = f"; a difference this size needs about {need:,} a group" if need else ""
        return (
            f"Too few to tell: {a.customers:,} mailed ({a.converted:,} bought) and "
            f"{b.customers:,} held out ({b.converted:,} bought); the interval needs at least "
            f"{MIN_PER_GROUP} customers and {MIN_OUTCOMES} buyers and non-buyers in each"
            f"{more}."
        )
    shown = (
        f"{_points(rate.difference)} points (95 % CI {_points(rate.low)} to {_points(rate.high)})"
    )
    if not rate.excludes_zero:
        return (
            f"No difference shown: conversion differs by {shown}, an interval that includes "
            "zero; mailing may do nothing, or more than this can tell."
        )
    way = "raised" if rate.difference > 0 else "lowered"
    money = (
        "and revenue per customer too"
        if revenue.excludes_zero
        else ("though revenue per customer differs by no more than chance")
    )
    return f"Mailing {way} conversion by {shown}, {money}."
