"""Retention and churn over a chosen period, in SQL over the counting orders (not cancelled,
not refunded in full): cohort retention by first-order month, churn and repeat-purchase rates
and the time between orders per month or quarter, and the Pareto share of the revenue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, case, func, literal, select
from sqlalchemy import cast as sa_cast
from sqlmodel import Session

from models.db import roomy_sorts, sequential_scans
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
    """Churn, repeat purchases and the gap between orders in each month or quarter (`by`),
    from one pass over the orders: each customer's orders grouped by the period they fell in
    (one CASE an order, four aggregates), each such group told the customer's group before
    and after it (a window over those groups, not over every order), then counted in a few
    hundred rows that Python spreads over the periods."""
    spans = list(periods(since, until, by))
    if not spans:
        return []
    edges = [start for start, _ in spans] + [spans[-1][1]]  # each period is [edges[k], edges[k+1])
    roomy_sorts(db)
    dialect = db.get_bind().dialect.name
    placed = select(
        O.customer_id, _index(O.placed_at, edges[:-1]).label("p"),
        O.placed_at,
        (O.shop_total - O.shop_refunded).label("net"),
    ).where(_counting(), O.placed_at < _at(edges[-1])).subquery()  # fmt: skip
    q = placed.c
    grouped = (
        select(q.customer_id, q.p, func.count().label("n"),
               func.min(q.placed_at).label("first"), func.max(q.placed_at).label("last"),
               func.sum(q.net).label("revenue"))
        .group_by(q.customer_id, q.p)
        .subquery()
    )  # fmt: skip
    g = grouped.c
    over: dict[str, Any] = {"partition_by": g.customer_id, "order_by": g.p}
    told = select(
        g.p, g.n, g.first, g.last, g.revenue,
        func.lag(g.last).over(**over).label("before"),
        func.coalesce(func.lead(g.p).over(**over), len(spans)).label("next_p"),
        func.lead(g.last).over(**over).label("next_last"),
        func.sum(g.n).over(**over).label("by_end"),  # p is one a customer: up to this row
    ).subquery()  # fmt: skip
    t = told.c
    # Reach: the last edge k at which this order still makes its customer active.
    reach = [edge - CHURN_AFTER for edge in edges]
    keyed = select(
        t.p, t.next_p, _index(t.last, reach).label("reach"),
        _index(t.next_last, reach).label("next_reach"),
        case((t.by_end >= 2, 1), else_=0).label("repeat"), t.revenue,
        # The gaps between a buyer's consecutive orders, the later in the period, add up to
        # their last order in it less the order before its first (telescoping). Without an
        # order before, the first in it starts the first gap.
        (t.n - case((t.before.is_(None), 1), else_=0)).label("pairs"),
        _days(dialect, t.last, func.coalesce(t.before, t.first)).label("days"),
    ).subquery()  # fmt: skip
    k = keyed.c
    keys = (k.p, k.next_p, k.reach, k.next_reach)
    # By a scan: grouped by customer, PostgreSQL would read the orders through
    # ix_orders_customer_placed_net, already in customer order, and so the whole table in random
    # order (104 s at ten million orders, against 17 s for a scan and a sort).
    with sequential_scans(db):
        rows = db.execute(
            select(*keys, func.count(), func.sum(k.repeat), func.sum(k.revenue),
                   func.sum(k.pairs), func.sum(k.days)).group_by(*keys)
        ).all()  # fmt: skip
    return _spread(spans, rows)


def _index(column: Any, edges: list[datetime]) -> Any:
    """The last k with edges[k] <= column (edges ascending); -1 before the first, or NULL."""
    return case(
        *((column >= _at(edge), k) for k, edge in reversed(list(enumerate(edges)))), else_=-1
    )


def _spread(spans: list[tuple[datetime, datetime]], rows: Sequence[Any]) -> list[Churn]:
    """Each group of a customer's orders in one period (p; -1: before the first) makes them
    active at every edge after it, up to the period of their next group, while within
    CHURN_AFTER of its last order (reach); churned in the period whose end is past it."""
    count = len(spans)
    sums = [[0, 0, 0, 0, 0, 0] for _ in spans]  # active, churned, buyers, repeat, revenue, pairs
    days: list[float | None] = [None] * count
    for p, next_p, reach, next_reach, customers, repeat, revenue, pairs, spent in rows:
        if p >= 0:
            added = (customers, repeat, revenue, pairs)
            sums[p][2:] = [a + int(b) for a, b in zip(sums[p][2:], added, strict=True)]
            days[p] = (days[p] or 0.0) + float(spent)
        for k in range(p + 1, min(next_p, count - 1) + 1):
            if reach < k:
                break  # inactive from here on: this group's last order is too old
            sums[k][0] += customers
            still = next_reach > k if next_p == k else reach > k
            sums[k][1] += 0 if still else customers
    found = []
    for (start, end), (active, churned, buyers, repeat, revenue, pairs), gap in zip(
        spans, sums, days, strict=True
    ):
        mean_gap = gap / pairs if pairs and gap is not None else None
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
    """What fraction of the period's buyers makes PARETO (80 %) of its net revenue: one
    statement, the buyers ranked once."""
    spend = (
        select(O.customer_id, func.sum(O.shop_total - O.shop_refunded).label("revenue"))
        .where(_counting(), O.placed_at >= _at(since), O.placed_at < _at(until))
        .group_by(O.customer_id)
        .subquery()
    )
    before = func.sum(spend.c.revenue).over(
        order_by=(spend.c.revenue.desc(), spend.c.customer_id), rows=(None, -1)
    )
    ranked = select(
        spend.c.revenue,
        sa_cast(func.coalesce(before, 0), Float).label("before"),
        func.sum(spend.c.revenue).over().label("total"),
    ).subquery()
    r = ranked.c
    # In floating point, as PARETO * total is in Python: the same line at the same cent.
    top = case((r.before < literal(PARETO, Float) * sa_cast(r.total, Float), 1))
    buyers, total, found = db.execute(
        select(func.count(), func.coalesce(func.sum(r.revenue), 0), func.count(case(
            (r.revenue > 0, top)))).select_from(ranked)
    ).one()  # fmt: skip
    return Pareto(int(buyers), int(found), int(total))
