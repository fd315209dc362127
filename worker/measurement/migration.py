"""The migration matrix: where the customers on each rung at the start of a period stood at its
end, and what they spent in it, rebuilt from `ladder_moves` for any past period."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, select
from sqlmodel import Session

from models.orders import UNCOUNTED_STATUSES
from models.tables import LADDER_MOVES, ORDERS
from models.types import UTCDateTime
from worker.measurement.rung_scheme import Scheme

M = LADDER_MOVES.c
O = ORDERS.c  # noqa: E741
NEW = None  # the row of customers not on the ladder when the period began
KINDS = ("up", "stayed", "down", "lapsed")


def rung_at(moment: datetime) -> Any:
    """Each placed customer's rung just before `moment`: the `to_rung` of their last move
    before it (a subquery of customer_id, rung)."""
    last = (
        select(M.customer_id, func.max(M.version).label("version"))
        .where(M.moved_at < literal(moment, UTCDateTime()))
        .group_by(M.customer_id)
        .subquery()
    )
    return (
        select(M.customer_id, M.to_rung.label("rung"))
        .join(last, and_(last.c.customer_id == M.customer_id, last.c.version == M.version))
        .subquery()
    )


def spent_between(since: datetime, until: datetime) -> Any:
    """Each customer's net revenue (minor units) of counting orders placed in the period."""
    return (
        select(O.customer_id, func.sum(O.shop_total - O.shop_refunded).label("revenue"))
        .where(
            O.placed_at >= literal(since, UTCDateTime()),
            O.placed_at < literal(until, UTCDateTime()),
            O.status.not_in([status.value for status in UNCOUNTED_STATUSES]),
        )
        .group_by(O.customer_id)
        .subquery()
    )


@dataclass(frozen=True)
class Cell:
    from_rung: str | None  # None: not on the ladder when the period began
    to_rung: str
    customers: int
    revenue: int  # minor units, net, of orders placed in the period


@dataclass
class Matrix:
    """One period's matrix, and each move's kind by the scheme's order."""

    since: datetime
    until: datetime
    cells: list[Cell] = field(default_factory=list)
    rungs: list[str] = field(default_factory=list)  # rows and columns, as the ladder lists them

    def cell(self, from_rung: str | None, to_rung: str) -> Cell | None:
        return next(
            (c for c in self.cells if (c.from_rung, c.to_rung) == (from_rung, to_rung)), None
        )

    def on_ladder(self) -> int:
        """Customers on a rung when the period began."""
        return sum(c.customers for c in self.cells if c.from_rung is not None)

    def joined(self) -> int:
        return sum(c.customers for c in self.cells if c.from_rung is None)

    def revenue(self) -> int:
        return sum(c.revenue for c in self.cells)


def kind(scheme: Scheme, from_rung: str | None, to_rung: str) -> str:
    """`up`, `stayed`, `down` or `lapsed` (off the line, to a rung beside it); `joined` for a
    customer not on the ladder when the period began."""
    if from_rung is None:
        return "joined"
    if from_rung == to_rung:
        return "stayed"
    if to_rung in scheme.beside and from_rung in scheme.line:
        return "lapsed"
    return scheme.direction(from_rung, to_rung)


def matrix_query(since: datetime, until: datetime) -> Select[Any]:
    start, end, spent = rung_at(since), rung_at(until), spent_between(since, until)
    return (
        select(
            start.c.rung.label("from_rung"),
            end.c.rung.label("to_rung"),
            func.count().label("customers"),
            func.coalesce(func.sum(spent.c.revenue), 0).label("revenue"),
        )
        .select_from(end)
        .outerjoin(start, start.c.customer_id == end.c.customer_id)
        .outerjoin(spent, spent.c.customer_id == end.c.customer_id)
        .group_by(start.c.rung, end.c.rung)
    )


def matrix(db: Session, scheme: Scheme, *, since: datetime, until: datetime) -> Matrix:
    """Every customer placed before `until`: their rung when `since` began (or none) against
    their rung at `until`, counted, with what they spent in between. One statement."""
    rows = db.execute(matrix_query(since, until)).all()
    cells = [Cell(r.from_rung, r.to_rung, int(r.customers), int(r.revenue)) for r in rows]
    seen = {c.to_rung for c in cells} | {c.from_rung for c in cells if c.from_rung}
    listed = [*scheme.line, *scheme.beside]
    order = listed + sorted(seen - set(listed))  # a rung since removed from the file, last
    cells.sort(
        key=lambda c: (order.index(c.from_rung) if c.from_rung else -1, order.index(c.to_rung))
    )
    return Matrix(since, until, cells, order)


@dataclass(frozen=True)
class Shares:
    """Of the customers on the ladder when a period began: how many moved each way."""

    since: datetime
    until: datetime
    on_ladder: int
    counts: dict[str, int]  # up, stayed, down, lapsed
    joined: int
    revenue: int

    def share(self, kind_name: str) -> float | None:
        return self.counts[kind_name] / self.on_ladder if self.on_ladder else None


def shares(scheme: Scheme, found: Matrix, from_rung: str | None = None) -> Shares:
    """The period's moves by kind, for everyone or for those who began on `from_rung`."""
    counts = dict.fromkeys(KINDS, 0)
    for c in found.cells:
        if c.from_rung is not None and from_rung in (None, c.from_rung):
            counts[kind(scheme, c.from_rung, c.to_rung)] += c.customers
    chosen = [c for c in found.cells if from_rung in (None, c.from_rung)]
    return Shares(
        found.since,
        found.until,
        sum(counts.values()),
        counts,
        found.joined() if from_rung is None else 0,
        sum(c.revenue for c in chosen if c.from_rung is not None or from_rung is None),
    )


def periods(since: datetime, until: datetime, by: str) -> Iterator[tuple[datetime, datetime]]:
    """Calendar months or quarters (`by`) covering [since, until), the first and last clipped."""
    step = 3 if by == "quarter" else 1
    start = since.astimezone(UTC)
    month = start.month - (start.month - 1) % step
    edge = datetime(start.year, month, 1, tzinfo=UTC)
    while edge < until:
        year, month = divmod(edge.month - 1 + step, 12)
        following = datetime(edge.year + year, month + 1, 1, tzinfo=UTC)
        yield max(edge, since), min(following, until)
        edge = following
