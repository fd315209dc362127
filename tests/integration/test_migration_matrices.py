"""`migration.matrices` against the definition worked out by hand over random moves and orders:
for the whole span and each month in it, every customer placed before its end, their rung
at its start (or none) against their rung at its end, and what they spent in between (all
the matrices come from one statement: rungs at every edge, spend between each two)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from models import OrderStatus
from models.tables import CUSTOMERS, LADDER_MOVES, ORDERS
from worker.audience.segments import segment_names
from worker.measurement import rung_scheme
from worker.measurement.migration import Matrix, matrices, periods
from worker.settings import PROJECT_ROOT

START = datetime(2026, 1, 1, tzinfo=UTC)
SINCE = datetime(2026, 2, 10, tzinfo=UTC)
UNTIL = datetime(2026, 5, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
RUNGS = ("first_time", "repeat", "loyal", "champion", "lapsed")


class Move(NamedTuple):
    customer: int
    version: int
    to_rung: str
    moved_at: datetime


class Order(NamedTuple):
    customer: int
    placed_at: datetime
    net: int  # nothing once cancelled


def shop(db: Session, seed: int) -> tuple[list[Move], list[Order]]:
    """Forty customers, up to five moves each on whole hours over six months (a few in the
    same hour as an edge's midnight) and up to eight orders, some cancelled."""
    rng = random.Random(seed)
    db.execute(insert(CUSTOMERS), [
        {"id": n, "email": f"c{n}@example.com", "created_at": START, "accepts_marketing": True}
        for n in range(1, 41)
    ])  # fmt: skip
    moves: list[Move] = []
    orders: list[Order] = []
    rows: list[dict[str, object]] = []
    for n in range(1, 41):
        times = sorted(START + HOUR * rng.randrange(180 * 24) for _ in range(rng.randrange(6)))
        times[:1] = [SINCE] if times and rng.random() < 0.2 else times[:1]  # at an edge
        moves += [Move(n, v, rng.choice(RUNGS), at) for v, at in enumerate(sorted(times), 1)]
        for _ in range(rng.randrange(9)):
            status = rng.choice((OrderStatus.PAID, OrderStatus.PAID, OrderStatus.CANCELLED))
            at, total = START + HOUR * rng.randrange(180 * 24), rng.choice((1000, 2500))
            orders.append(Order(n, at, total if status == OrderStatus.PAID else 0))
            rows.append({
                "source": "test", "source_order_id": f"o{len(rows)}", "customer_id": n,
                "status": status.value, "total": total, "currency": "EUR", "shop_total": total,
                "placed_at": at,
            })  # fmt: skip
    db.execute(insert(LADDER_MOVES), [
        {"customer_id": m.customer, "version": m.version, "from_rung": None,
         "to_rung": m.to_rung, "moved_at": m.moved_at}
        for m in moves
    ])  # fmt: skip
    if rows:
        db.execute(insert(ORDERS), rows)
    db.commit()
    return moves, orders


def by_hand(
    moves: list[Move], orders: list[Order], since: datetime, until: datetime
) -> dict[tuple[str | None, str], tuple[int, int]]:
    def rung(customer: int, moment: datetime) -> str | None:
        before = [m for m in moves if m.customer == customer and m.moved_at < moment]
        return max(before, key=lambda m: m.version).to_rung if before else None

    cells: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0])
    for customer in {m.customer for m in moves}:
        end = rung(customer, until)
        if end is not None:
            cell = cells[(rung(customer, since), end)]
            cell[0] += 1
            cell[1] += sum(
                o.net for o in orders if o.customer == customer and since <= o.placed_at < until
            )
    return {key: (count, revenue) for key, (count, revenue) in cells.items()}


def cells_of(found: Matrix) -> dict[tuple[str | None, str], tuple[int, int]]:
    return {(c.from_rung, c.to_rung): (c.customers, c.revenue) for c in found.cells}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_whole_span_and_each_month_are_the_matrices_worked_out_by_hand(
    db: Session, seed: int
) -> None:
    moves, orders = shop(db, seed)
    scheme = rung_scheme.load_scheme(
        rung_scheme.default_path(PROJECT_ROOT / "measurement"), segments=segment_names()
    )
    assert scheme is not None
    spans = list(periods(SINCE, UNTIL, "month"))
    whole, months = matrices(db, scheme, [SINCE, *(end for _, end in spans)])
    assert cells_of(whole) == by_hand(moves, orders, SINCE, UNTIL)
    assert [(m.since, m.until) for m in months] == spans
    for found, (since, until) in zip(months, spans, strict=True):
        assert cells_of(found) == by_hand(moves, orders, since, until), since
