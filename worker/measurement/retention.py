"""Retention and churn over a chosen period, in SQL over the counting orders (not cancelled,
not refunded in full): cohort retention by first-order month, churn and repeat-purchase rates
and the time between orders per month or quarter, and the Pareto share of the revenue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, func, literal, select
from sqlalchemy import cast as sa_cast
from sqlmodel import Session

from models.db import roomy_sorts
from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, ORDERS
from models.types import UTCDateTime
from worker.measurement.migration import periods

O = ORDERS.c  # noqa: E741
C = CUSTOMERS.c
# A customer is active at a moment if they placed an order in the CHURN_AFTER before it; one
# active when a period begins and not when it ends has churned in it.
CHURN_AFTER = timedelta(days=180)
PARETO = 0.8  # the share of revenue the Pareto line asks about


def _counting() -> Any:
    return O.status.not_in([status.value for status in UNCOUNTED_STATUSES])


def _at(moment: datetime) -> Any:
    return literal(moment, UTCDateTime())


def month_index(dialect: str, column: Any) -> Any:
    """year * 12 + month - 1 of a timestamp column, on SQLite and PostgreSQL alike."""
    year: Any
    month: Any
    if dialect == "postgresql":
        year, month = func.extract("year", column), func.extract("month", column)
    else:
        year, month = func.strftime("%Y", column), func.strftime("%m", column)
    return sa_cast(year, Integer) * 12 + sa_cast(month, Integer) - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass
class Cohort:
    month: str  # of the first order, YYYY-MM
    customers: int
    active: dict[int, int] = field(default_factory=dict)  # months after the first → buyers
    lived: int = 0  # the last month offset the period reaches

    def retention(self, offset: int) -> float | None:
        """The share who ordered in month `offset` after their first; None: not yet lived."""
        if offset not in self.active and offset > self.lived:
            return None
        return self.active.get(offset, 0) / self.customers if self.customers else None


def cohorts(db: Session, *, since: datetime, until: datetime) -> list[Cohort]:
    """Customers by the month of their first counting order (in [since, until)), and for
    each month after it up to `until`, how many of them placed an order in that month."""
    dialect = db.get_bind().dialect.name
    first = month_index(dialect, C.first_order_at)
    in_period = (C.first_order_at >= _at(since)) & (C.first_order_at < _at(until))
    sizes = dict(
        tuple(row)
        for row in db.execute(select(first, func.count()).where(in_period).group_by(first))
    )
    placed = month_index(dialect, O.placed_at)
    rows = db.execute(
        select(first, placed - first, func.count(func.distinct(O.customer_id)))
        .join(CUSTOMERS, C.id == O.customer_id)
        .where(in_period, _counting(), O.placed_at < _at(until))
        .group_by(first, placed - first)
    ).all()
    last = month_index_of(until - timedelta(microseconds=1))
    found = {
        index: Cohort(_month_name(index), int(size), lived=last - index)
        for index, size in sizes.items()
    }
    for index, offset, buyers in rows:
        if index in found and offset >= 0:
            found[index].active[int(offset)] = int(buyers)
    return [found[index] for index in sorted(found)]


def month_index_of(moment: datetime) -> int:
    return moment.year * 12 + moment.month - 1


@dataclass(frozen=True)
class Churn:
    """One period: who was active when it began and churned in it; who bought in it."""

    since: datetime
    until: datetime
    active: int  # ordered in the CHURN_AFTER before `since`
    churned: int  # of them, no order in the CHURN_AFTER before `until`
    buyers: int  # ordered in the period
    repeat_buyers: int  # of them, with two orders or more by its end
    mean_gap_days: float | None  # between a customer's consecutive orders, the later in it
    revenue: int  # minor units, net

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.active if self.active else None

    @property
    def repeat_rate(self) -> float | None:
        return self.repeat_buyers / self.buyers if self.buyers else None


def churn(db: Session, *, since: datetime, until: datetime, by: str) -> list[Churn]:
    """Churn, repeat purchases and the gap between orders in each month or quarter (`by`):
    every period from one pass over the orders (each customer's last order and count by each
    period's start and end, in conditional aggregates), not a pass a period."""
    spans = list(periods(since, until, by))
    if not spans:
        return []
    roomy_sorts(db)
    columns: list[Any] = [O.customer_id]
    for k, (start, end) in enumerate(spans):
        inside = (O.placed_at >= _at(start)) & (O.placed_at < _at(end))
        columns += [
            func.max(case((O.placed_at < _at(start), O.placed_at))).label(f"last_by_start_{k}"),
            func.max(case((O.placed_at < _at(end), O.placed_at))).label(f"last_by_end_{k}"),
            func.count(case((O.placed_at < _at(end), 1))).label(f"orders_by_end_{k}"),
            func.count(case((inside, 1))).label(f"in_period_{k}"),
            func.min(case((inside, O.placed_at))).label(f"first_in_{k}"),
            func.coalesce(func.sum(case((inside, O.shop_total - O.shop_refunded))), 0).label(
                f"revenue_{k}"
            ),
        ]
    per_customer = (
        select(*columns)
        .where(_counting(), O.placed_at < _at(spans[-1][1]))
        .group_by(O.customer_id)
        .subquery()
    )
    p = per_customer.c
    dialect = db.get_bind().dialect.name
    totals: list[Any] = []
    for k, (start, end) in enumerate(spans):
        was_active = p[f"last_by_start_{k}"] >= _at(start - CHURN_AFTER)
        still_active = p[f"last_by_end_{k}"] >= _at(end - CHURN_AFTER)
        bought = p[f"in_period_{k}"] > 0
        # The gaps between a buyer's consecutive orders, the later in the period, add up to
        # their last order in it less the order before its first (telescoping): no window
        # over every order. Without an order before, the first in it starts the first gap.
        before = func.coalesce(p[f"last_by_start_{k}"], p[f"first_in_{k}"])
        gaps = case((p[f"last_by_start_{k}"].is_(None), p[f"in_period_{k}"] - 1),
                    else_=p[f"in_period_{k}"])  # fmt: skip
        totals += [
            func.count(case((was_active, 1))),
            func.count(case((was_active & ~still_active, 1))),
            func.count(case((bought, 1))),
            func.count(case((bought & (p[f"orders_by_end_{k}"] >= 2), 1))),
            func.coalesce(func.sum(p[f"revenue_{k}"]), 0),
            func.coalesce(func.sum(case((bought, gaps))), 0),
            func.sum(case((bought, _days(dialect, p[f"last_by_end_{k}"], before)))),
        ]
    row = list(db.execute(select(*totals)).one())
    found = []
    for k, (start, end) in enumerate(spans):
        active, churned, buyers, repeat, revenue, pairs = (int(v) for v in row[7 * k : 7 * k + 6])
        days = row[7 * k + 6]
        mean_gap = float(days) / pairs if pairs and days is not None else None
        found.append(Churn(start, end, active, churned, buyers, repeat, mean_gap, revenue))
    return found


def _days(dialect: str, later: Any, earlier: Any) -> Any:
    """Days (fractional) from `earlier` to `later`."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 86400
    return func.julianday(later) - func.julianday(earlier)


@dataclass(frozen=True)
class Pareto:
    buyers: int
    top: int  # the fewest buyers whose revenue makes PARETO of the period's
    revenue: int

    @property
    def share(self) -> float | None:
        return self.top / self.buyers if self.buyers else None


def pareto(db: Session, *, since: datetime, until: datetime) -> Pareto:
    """What fraction of the period's buyers makes PARETO (80 %) of its net revenue."""
    spend = (
        select(O.customer_id, func.sum(O.shop_total - O.shop_refunded).label("revenue"))
        .where(_counting(), O.placed_at >= _at(since), O.placed_at < _at(until))
        .group_by(O.customer_id)
        .subquery()
    )
    before = (
        func.sum(spend.c.revenue)
        .over(order_by=(spend.c.revenue.desc(), spend.c.customer_id), rows=(None, -1))
        .label("before")
    )
    ranked = select(spend.c.revenue, before).subquery()
    total = int(db.execute(select(func.coalesce(func.sum(spend.c.revenue), 0))).scalar_one())
    buyers = int(db.execute(select(func.count()).select_from(spend)).scalar_one())
    top = db.execute(
        select(func.count()).where(
            func.coalesce(ranked.c.before, 0) < PARETO * total, ranked.c.revenue > 0
        )
    ).scalar_one()
    return Pareto(buyers, int(top), total)
