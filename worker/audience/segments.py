"""RFM scores and named segments, computed set-based in SQL over all the shop's customers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, TextClause, bindparam, func, literal, select, text, update
from sqlmodel import Session, col

from models import Customer
from models.db import roomy_sorts, sequential_scans
from models.tables import CUSTOMERS
from models.types import UTCDateTime
from triggers.matching import TriggerSet
from worker.audience import own_events

# Each score is the customer's quintile (1-5) by rank; ties share a score: in integer
# arithmetic, 1 + (RANK() - 1) * 5 // n over the n customers who bought. RANK() - 1 is how many
# customers have a smaller value, so a score passes k + 1 exactly when the value is above the
# one ranked p_k = ceil(k * n / 5): four bounds a column, read from one sort of that column,
# and each customer's score is a comparison with them, row by row, with no ranking of rows.
SCORED = {"r": "last_order_at", "f": "orders_count", "m": "total_spent"}
BUYERS = "orders_count > 0"


def positions(n: int) -> list[int]:
    """The ranks (1-based) of the four quintile bounds among `n` values."""
    return [-(-k * n // 5) for k in range(1, 5)]


def _bounds(db: Session, column: str, n: int) -> list[Any]:
    """The values ranked `positions(n)` in `column` among buyers (None when no one bought)."""
    wanted = positions(n)
    found = db.execute(
        text(f"""
        SELECT n, v FROM (SELECT ROW_NUMBER() OVER (ORDER BY {column}) AS n, {column} AS v
                          FROM customers WHERE {BUYERS}) AS ranked
        WHERE n IN ({", ".join(str(p) for p in wanted)})
        """).columns(v=UTCDateTime() if column == "last_order_at" else Integer())
    ).all()
    by_position = {row.n: row.v for row in found}
    return [by_position.get(p) for p in wanted]


def _score(name: str) -> str:
    """A score as a sum of comparisons with its bounds (bound parameters `<name>1`..`<name>4`)."""
    return (
        "(1 + "
        + " + ".join(
            f"CASE WHEN {SCORED[name]} > :{name}{k} THEN 1 ELSE 0 END" for k in range(1, 5)
        )
        + ")"
    )


def _scores(db: Session) -> tuple[str, dict[str, Any]]:
    """The buyers' r, f and m scores (a SELECT) and the values of their bounds.

    The bounds come from a sort of each column in memory, a fraction of a second for a million
    values; read in the order of an index (the planner's choice for last_order_at) they were a
    million row fetches, four seconds here.
    """
    with sequential_scans(db):
        n = int(db.execute(text(f"SELECT count(*) FROM customers WHERE {BUYERS}")).scalar_one())
        values = {
            f"{name}{k}": bound
            for name, column in SCORED.items()
            for k, bound in enumerate(_bounds(db, column, n), start=1)
        }
    scored = ", ".join(f"{_score(name)} AS {name}" for name in SCORED)
    return f"SELECT id, {scored}, orders_count FROM customers WHERE {BUYERS}", values


def _bind(statement: str, values: dict[str, Any]) -> TextClause:
    """`statement` with its parameters bound, times as the customers' columns store them."""
    return text(statement).bindparams(
        *(
            bindparam(key, value, type_=UTCDateTime() if isinstance(value, datetime) else None)
            for key, value in values.items()
        )
    )


# Named segments from the scores, first match wins. Kept in one place so reports, triggers and
# templates agree on the names.
SEGMENTS: list[tuple[str, str, str]] = [
    ("champions", "r >= 4 AND f >= 4 AND m >= 4", "bought recently, often, and spend the most"),
    ("loyal", "r >= 3 AND f >= 3", "buy regularly"),
    ("new", "r >= 4 AND orders_count = 1", "first order, recently"),
    ("potential", "r >= 3", "recent, not yet regular"),
    ("at_risk", "f >= 3 OR m >= 4", "were frequent or big spenders, have gone quiet"),
    ("hibernating", "r = 2", "few orders, a while ago"),
    ("lost", "1 = 1", "few orders, long ago"),
]
PROSPECT = "prospect"  # no order yet


def segment_names() -> list[str]:
    """Every segment a customer can be in, best first, then `prospect`."""
    return [name for name, _, _ in SEGMENTS] + [PROSPECT]


def _segment_case() -> str:
    whens = " ".join(f"WHEN {condition} THEN '{name}'" for name, condition, _ in SEGMENTS)
    return f"CASE {whens} END"


ENTERED, EXITED = "segment.entered", "segment.exited"


def refresh(
    db: Session, now: datetime, *, told: Collection[str] = (ENTERED, EXITED)
) -> dict[str, int]:
    """Recomputes every customer's RFM score and segment, set-based; commits.

    Returns the number of customers per segment. Each customer who moved from one segment to
    another gets the events of `told`: segment.entered, and segment.exited (`data.from`,
    `data.to` in each); a first scoring (no segment before) is not a move.
    """
    roomy_sorts(db)  # each bound column sorted once, in memory
    scored, values = _scores(db)
    # Only the customers whose score or segment changed are written: on a day when a tenth of
    # a million customers move, a tenth of the rows (every row was 1.2x a bare UPDATE of all).
    statement = f"""
    UPDATE customers SET
      rfm = s.rfm,
      segment_changed_at = CASE WHEN customers.segment IS DISTINCT FROM s.segment
                                THEN :now ELSE customers.segment_changed_at END,
      previous_segment = CASE WHEN customers.segment IS DISTINCT FROM s.segment
                              THEN customers.segment ELSE customers.previous_segment END,
      segment = s.segment
    FROM (SELECT id, {_segment_case()} AS segment,
                 CAST(r AS VARCHAR(1)) || CAST(f AS VARCHAR(1)) || CAST(m AS VARCHAR(1)) AS rfm
          FROM ({scored}) AS scored) AS s
    WHERE customers.id = s.id
      AND (customers.rfm IS DISTINCT FROM s.rfm
           OR customers.segment IS DISTINCT FROM s.segment)
    """
    db.execute(_bind(statement, {**values, "now": now}))
    db.execute(
        update(Customer)
        .where(col(Customer.orders_count) == 0, col(Customer.segment).is_distinct_from(PROSPECT))
        .values(
            segment=PROSPECT,
            rfm=None,
            segment_changed_at=now,
            previous_segment=col(Customer.segment),
        )
    )
    emit_moves(db, now, told)
    db.commit()
    rows = db.execute(
        select(col(Customer.segment), func.count()).group_by(col(Customer.segment))
    ).all()
    return {segment or PROSPECT: count for segment, count in rows}


def preview_moves(db: Session) -> dict[int, tuple[str | None, str]]:
    """What a refresh now would change, without writing: customer id → (segment, new one)."""
    scored, values = _scores(db)
    statement = f"""
        SELECT customers.id, customers.segment,
               COALESCE(s.segment, '{PROSPECT}') AS new_segment
        FROM customers
        LEFT JOIN (SELECT id, {_segment_case()} AS segment FROM ({scored}) AS scored) AS s
               ON s.id = customers.id
        WHERE customers.segment IS DISTINCT FROM COALESCE(s.segment, '{PROSPECT}')
        """
    rows = db.execute(_bind(statement, values)).all()
    db.commit()
    return {row.id: (row.segment, row.new_segment) for row in rows}


def told_of(triggers: TriggerSet) -> tuple[str, ...]:
    """The events a refresh tells of a move: segment.entered always (the customer's history:
    its data names both segments), segment.exited only while a trigger starts on it or is
    cancelled by it. On a day a tenth of a million customers move, that is 135,000 rows fewer
    to write, each the same news as its segment.entered."""
    return (ENTERED, EXITED) if triggers.listens_to(EXITED) else (ENTERED,)


def emit_moves(db: Session, now: datetime, told: Collection[str] = (ENTERED, EXITED)) -> int:
    """The `told` events (segment.exited, segment.entered) for those whose segment changed at
    `now`."""
    c = CUSTOMERS.c
    moved = (c.segment_changed_at == literal(now, UTCDateTime())) & c.previous_segment.is_not(None)
    moved = moved & c.segment.is_not(None)
    data = {"from": c.previous_segment, "to": c.segment}
    stamp = f"{now:%Y%m%dT%H%M%S}"
    return sum(
        own_events.insert_customer_events(
            db,
            event_type=event_type,
            payload_type=event_type,
            key_prefix=f"{event_type}:{stamp}:",
            where=moved,
            data=data,
            now=now,
        )
        for event_type in (EXITED, ENTERED)
        if event_type in told
    )
