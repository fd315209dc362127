"""`ladder broadcast status NAME`: its runs, their deliveries by state, and the result of its
A/B test per variant (sent, opened, clicked, bought and revenue) with 95 % confidence
intervals; `ladder series
status NAME`: a content series' steps, their deliveries by state."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import ATTRIBUTIONS, BROADCAST_RUNS, DELIVERIES, ORDERS
from triggers.broadcast import PREFIX
from worker.measurement.performance import net_revenue

R, D = BROADCAST_RUNS.c, DELIVERIES.c
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval
OPENED = (DeliveryStatus.OPENED.value, DeliveryStatus.CLICKED.value)


@dataclass(frozen=True)
class Run:
    id: int
    day: date
    status: str
    resolve_at: datetime
    resolved_at: datetime | None
    reached: int
    deliveries: Counter[str]


@dataclass(frozen=True)
class Rate:
    count: int
    of: int

    @property
    def share(self) -> float:
        return self.count / self.of if self.of else 0.0

    def interval(self) -> tuple[float, float]:
        """Wilson's 95 % score interval: sound for small counts and rates near 0 or 1."""
        if not self.of:
            return 0.0, 0.0
        n, p, z2 = self.of, self.share, Z_95**2
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class VariantResult:
    variant: str
    sent: int
    opened: Rate
    clicked: Rate
    bought: Rate  # emails credited with an order worth more than nothing (attribution)
    revenue: int  # those orders, net of refunds, minor units of the shop's currency

    @property
    def revenue_per_email(self) -> float:
        return self.revenue / self.sent if self.sent else 0.0


@dataclass
class BroadcastStatus:
    broadcast: str
    runs: list[Run] = field(default_factory=list)
    results: list[VariantResult] = field(default_factory=list)


def status_of(db: Session, name: str) -> BroadcastStatus:
    """Every run of the broadcast `name`, newest first, and its results over all runs."""
    found = BroadcastStatus(name)
    counts: dict[int, Counter[str]] = {}
    for run_id, status, count in db.execute(
        select(D.broadcast_run_id, D.status, func.count())
        .join(BROADCAST_RUNS, R.id == D.broadcast_run_id)
        .where(R.broadcast == name)
        .group_by(D.broadcast_run_id, D.status)
    ):
        counts.setdefault(run_id, Counter())[str(status)] = int(count)
    for row in db.execute(
        select(*R).where(R.broadcast == name).order_by(R.occurs_on.desc(), R.id.desc())
    ):
        found.runs.append(
            Run(
                row.id,
                row.occurs_on,
                row.status,
                row.resolve_at,
                row.resolved_at,
                row.reached,
                counts.get(row.id, Counter()),
            )
        )
    found.results = results_of(db, PREFIX + name)
    db.rollback()  # a read: end its transaction
    return found


def results_of(db: Session, trigger: str) -> list[VariantResult]:
    """Per A/B variant (`-` without a test) of the deliveries whose `trigger` column is this
    (a trigger's name, or "broadcast:<name>"), over those that went out: opened, clicked, and
    the orders credited to them (`worker.measurement.attribution`), net of refunds."""
    a, o = ATTRIBUTIONS.c, ORDERS.c
    earned = (
        select(a.delivery_id, func.sum(net_revenue()).label("revenue"))
        .join(ORDERS, o.id == a.order_id)
        .where(a.trigger == trigger)
        .group_by(a.delivery_id)
        .subquery("earned")
    )
    revenue = func.coalesce(earned.c.revenue, 0)
    rows = db.execute(
        select(
            D.ab_variant,
            func.count(),
            func.sum(case((D.status.in_(OPENED), 1), else_=0)),
            func.sum(case((D.status == DeliveryStatus.CLICKED.value, 1), else_=0)),
            func.sum(case((revenue > 0, 1), else_=0)),
            func.sum(revenue),
        )
        .select_from(DELIVERIES.outerjoin(earned, earned.c.delivery_id == D.id))
        .where(D.trigger == trigger, D.sent_at.is_not(None))
        .group_by(D.ab_variant)
    )
    return [
        VariantResult(
            str(variant or "-"),
            int(sent),
            Rate(int(opened or 0), int(sent)),
            Rate(int(clicked or 0), int(sent)),
            Rate(int(bought or 0), int(sent)),
            int(money or 0),
        )
        for variant, sent, opened, clicked, bought, money in sorted(
            rows, key=lambda row: row[0] or ""
        )
    ]


def series_steps(db: Session, trigger: str, steps: tuple[str, ...]) -> list[Counter[str]]:
    """For each step of the series whose deliveries carry `trigger`, its deliveries by state."""
    found = [Counter[str]() for _ in steps]
    for message, status, count in db.execute(
        select(D.message, D.status, func.count())
        .where(D.trigger == trigger)
        .group_by(D.message, D.status)
    ):
        if message in steps:
            found[steps.index(message)][str(status)] = int(count)
    db.rollback()  # a read: end its transaction
    return found
