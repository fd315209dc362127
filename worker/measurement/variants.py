"""An A/B test's result per variant: of the emails that went out, how many were opened,
clicked and credited with an order (and its revenue), each rate with Wilson's 95 % interval;
read by `ladder ab-test`, `ladder broadcast status` and a broadcast's test-then-winner."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import ATTRIBUTIONS, DELIVERIES, ORDERS
from worker.measurement.performance import net_revenue

D = DELIVERIES.c
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval
OPENED = (DeliveryStatus.OPENED.value, DeliveryStatus.CLICKED.value)


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

    def score(self, metric: str) -> float:
        """The rate a test-then-winner compares: opened, clicked or bought per email sent, or
        revenue per email sent."""
        if metric == "revenue":
            return self.revenue_per_email
        rate: Rate = getattr(self, metric)
        return rate.share


def results_of(db: Session, trigger: str, *, run_id: int | None = None) -> list[VariantResult]:
    """Per A/B variant (`-` without a test) of the deliveries whose `trigger` column is this
    (a trigger's name, or "broadcast:<name>"; of one broadcast run only, given `run_id`), over
    those that went out: opened, clicked, and the orders credited to them
    (`worker.measurement.attribution`), net of refunds."""
    a, o = ATTRIBUTIONS.c, ORDERS.c
    earned = (
        select(a.delivery_id, func.sum(net_revenue()).label("revenue"))
        .join(ORDERS, o.id == a.order_id)
        .where(a.trigger == trigger)
        .group_by(a.delivery_id)
        .subquery("earned")
    )
    which = [D.trigger == trigger, D.sent_at.is_not(None)]
    if run_id is not None:
        which.append(D.broadcast_run_id == run_id)
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
        .where(*which)
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
