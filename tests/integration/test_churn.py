"""`retention.churn` against the definitions worked out by hand, order by order, over a shop of
random orders: who was active and churned, who bought and bought again, and the mean days
between a customer's consecutive orders, the later in the period (the report computes it from
per-customer aggregates, without a window over every order)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from models import OrderStatus
from models.tables import CUSTOMERS, ORDERS
from worker.measurement.retention import CHURN_AFTER, churn

START = datetime(2025, 1, 1, tzinfo=UTC)
SINCE = datetime(2025, 7, 1, tzinfo=UTC)
UNTIL = datetime(2026, 1, 1, tzinfo=UTC)


def shop(db: Session, seed: int) -> list[tuple[int, datetime, bool]]:
    """Forty customers with up to twelve orders each over a year, some at the same moment, a
    few cancelled (they never count); returns (customer, placed_at, counted) for each order."""
    rng = random.Random(seed)
    customers = [
        {"id": n, "email": f"c{n}@example.com", "created_at": START, "accepts_marketing": True}
        for n in range(1, 41)
    ]
    db.execute(insert(CUSTOMERS), customers)
    orders: list[dict[str, object]] = []
    told: list[tuple[int, datetime, bool]] = []
    for n in range(1, 41):
        moments = [
            START + timedelta(hours=rng.randrange(365 * 24)) for _ in range(rng.randrange(13))
        ]
        moments += moments[:1] if rng.random() < 0.2 else []  # two orders at once
        for at in moments:
            cancelled = rng.random() < 0.1
            orders.append(
                {
                    "source": "test",
                    "source_order_id": f"{n}-{len(orders)}",
                    "customer_id": n,
                    "status": (OrderStatus.CANCELLED if cancelled else OrderStatus.PAID).value,
                    "total": 1000,
                    "currency": "EUR",
                    "placed_at": at,
                    "shop_total": 1000,
                }
            )
            told.append((n, at, not cancelled))
    db.execute(insert(ORDERS), orders)
    db.commit()
    return told


def by_hand(
    told: list[tuple[int, datetime, bool]], start: datetime, end: datetime
) -> tuple[int, int, int, int, float | None]:
    """(active, churned, buyers, repeat buyers, mean gap in days) of one period, by definition."""
    placed: dict[int, list[datetime]] = {}
    for customer, at, counted in told:
        if counted:
            placed.setdefault(customer, []).append(at)
    active = churned = buyers = repeat = 0
    gaps: list[float] = []
    for moments in placed.values():
        moments.sort()
        before = [at for at in moments if at < start]
        by_end = [at for at in moments if at < end]
        if before and before[-1] >= start - CHURN_AFTER:
            active += 1
            churned += by_end[-1] < end - CHURN_AFTER
        inside = [at for at in moments if start <= at < end]
        if inside:
            buyers += 1
            repeat += len(by_end) >= 2
        gaps += [
            (later - earlier).total_seconds() / 86400
            for earlier, later in pairwise(moments)
            if start <= later < end
        ]
    return active, churned, buyers, repeat, sum(gaps) / len(gaps) if gaps else None


@pytest.mark.parametrize("seed", [1, 2])
def test_each_month_counts_and_the_mean_gap_between_orders_are_those_worked_out_by_hand(
    db: Session, seed: int
) -> None:
    told = shop(db, seed)

    found = churn(db, since=SINCE, until=UNTIL, by="month")

    assert [period.since.month for period in found] == [7, 8, 9, 10, 11, 12]
    for period in found:
        active, churned, buyers, repeat, mean_gap = by_hand(told, period.since, period.until)
        assert (period.active, period.churned) == (active, churned), period.since
        assert (period.buyers, period.repeat_buyers) == (buyers, repeat), period.since
        if mean_gap is None:
            assert period.mean_gap_days is None
        else:
            assert period.mean_gap_days == pytest.approx(mean_gap, rel=1e-9), period.since
