"""The migration matrix: where the customers on each rung at the start of a period stood at its
end, and what they spent in it, rebuilt from `ladder_moves` for any past period (a report's
periods all from one statement)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, and_, case, func, literal, select
from sqlalchemy import cast as sa_cast
from sqlmodel import Session

from models.orders import UNCOUNTED_STATUSES
from models.tables import LADDER_MOVES, ORDERS
from models.types import UTCDateTime
from worker.measurement.rung_scheme import Scheme

M = LADDER_MOVES.c
O = ORDERS.c  # noqa: E741
NEW = None  # the row of customers not on the ladder when the period began
KINDS = ("up", "stayed", "down", "lapsed")
VERSION_DIGITS = 12  # a move's version, padded to sort as text


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


def _versioned(dialect: str) -> Any:
    """A move's version, zero-padded, then its rung: the greatest such text of a customer's
    moves before a moment carries the rung of their last move then."""
    if dialect == "postgresql":
        padded = func.lpad(sa_cast(M.version, String), VERSION_DIGITS, "0")
    else:
        padded = func.printf(f"%0{VERSION_DIGITS}d", M.version)
    return padded.op("||")(M.to_rung)


def matrices_query(dialect: str, edges: list[datetime]) -> Select[Any]:
    """Customers grouped by their rungs at every edge (NULL: not yet placed), with what they
    spent between each two edges: one pass over the moves, one over the orders between the
    first edge and the last, a few thousand rows however many customers."""
    at = [literal(edge, UTCDateTime()) for edge in edges]
    versioned = _versioned(dialect)
    rungs = (
        select(M.customer_id, *(
            func.substr(func.max(case((M.moved_at < moment, versioned))), VERSION_DIGITS + 1)
            .label(f"r{k}") for k, moment in enumerate(at)
        ))
        .where(M.moved_at < at[-1])
        .group_by(M.customer_id)
        .subquery()
    )  # fmt: skip
    placed = select(
        O.customer_id, (O.shop_total - O.shop_refunded).label("net"),
        case(*((O.placed_at >= at[k], k) for k in reversed(range(len(at) - 1)))).label("p"),
    ).where(
        O.placed_at >= at[0], O.placed_at < at[-1],
        O.status.not_in([status.value for status in UNCOUNTED_STATUSES]),
    ).subquery()  # fmt: skip
    spent = (
        select(placed.c.customer_id, *(
            func.sum(case((placed.c.p == k, placed.c.net))).label(f"s{k}")
            for k in range(len(at) - 1)
        ))
        .group_by(placed.c.customer_id)
        .subquery()
    )  # fmt: skip
    keys = [rungs.c[f"r{k}"] for k in range(len(at))]
    return (
        select(*keys, func.count().label("customers"), *(
            func.coalesce(func.sum(spent.c[f"s{k}"]), 0) for k in range(len(at) - 1)
        ))
        .select_from(rungs.outerjoin(spent, spent.c.customer_id == rungs.c.customer_id))
        .group_by(*keys)
    )  # fmt: skip


def matrices(db: Session, scheme: Scheme, edges: list[datetime]) -> tuple[Matrix, list[Matrix]]:
    """The matrix from the first edge to the last, and of each two edges after another:
    every customer placed before the end, their rung at the start (or none) against their
    rung at the end, counted, with what they spent in between. One statement for them all."""
    rows = db.execute(matrices_query(db.get_bind().dialect.name, edges)).all()
    last = len(edges) - 1
    spans = [(0, last), *((k, k + 1) for k in range(last))]
    found = []
    for start, end in spans:
        cells: dict[tuple[str | None, str], list[int]] = {}
        for row in rows:
            to_rung = row[end]
            if to_rung is not None:
                cell = cells.setdefault((row[start], to_rung), [0, 0])
                cell[0] += int(row.customers)
                cell[1] += sum(int(row[last + 2 + k]) for k in range(start, end))
        listed = [Cell(a, b, customers, revenue) for (a, b), (customers, revenue) in cells.items()]
        found.append(_ordered(scheme, edges[start], edges[end], listed))
    return found[0], found[1:]


def matrix(db: Session, scheme: Scheme, *, since: datetime, until: datetime) -> Matrix:
    """Every customer placed before `until`: their rung when `since` began (or none) against
    their rung at `until`, counted, with what they spent in between. One statement."""
    return matrices(db, scheme, [since, until])[0]


def _ordered(scheme: Scheme, since: datetime, until: datetime, cells: list[Cell]) -> Matrix:
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
