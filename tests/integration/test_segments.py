"""RFM scores and named segments over a population of customers, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, select

from models import Customer, Event, EventStatus, migrate
from models.db import get_engine, session
from triggers.matching import TriggerSet
from worker.audience import segments
from worker.queue import clock
from worker.runtime import Runtime

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SEGMENT_NAMES = {name for name, _, _ in segments.SEGMENTS} | {segments.PROSPECT}


def add_customer(
    db: Session, email: str, *, orders: int = 0, spent: int = 0, days_ago: int | None = None
) -> None:
    last = NOW - days_ago * DAY if days_ago is not None else None
    db.add(
        Customer(
            email=email,
            accepts_marketing=True,
            created_at=NOW - 1000 * DAY,
            currency="EUR",
            orders_count=orders,
            total_spent=spent,
            average_order_value=spent // orders if orders else 0,
            first_order_at=NOW - 800 * DAY if orders else None,
            last_order_at=last,
        )
    )


def build_population(db: Session) -> None:
    """50 buyers with varied recency, frequency and spend, three of them known; 3 prospects."""
    rng = random.Random(20260601)
    for n in range(47):
        orders = rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 9])
        spent = orders * rng.randint(1500, 9000)
        add_customer(
            db, f"c{n}@example.com", orders=orders, spent=spent, days_ago=rng.randint(3, 700)
        )
    add_customer(db, "best@example.com", orders=30, spent=900_000, days_ago=1)
    add_customer(db, "newcomer@example.com", orders=1, spent=2_500, days_ago=2)
    add_customer(db, "gone@example.com", orders=1, spent=1_000, days_ago=900)
    for n in range(3):
        add_customer(db, f"prospect{n}@example.com")
    db.commit()


def everyone(db: Session) -> dict[str, Customer]:
    db.expire_all()
    return {c.email: c for c in db.exec(select(Customer).order_by(col(Customer.email))).all()}


def quintile(values: list[float], value: float) -> int:
    """The documented rule: 1 + (rank - 1) * 5 // count, ties sharing the lowest rank."""
    rank = 1 + sum(1 for other in values if other < value)
    return 1 + (rank - 1) * 5 // len(values)


def last_order_ts(customer: Customer) -> float:
    assert customer.last_order_at is not None
    return customer.last_order_at.timestamp()


def test_every_buyer_gets_a_three_digit_score_from_their_quintiles(db: Session) -> None:
    build_population(db)
    segments.refresh(db, NOW)

    buyers = [c for c in everyone(db).values() if c.orders_count > 0]
    assert len(buyers) == 50
    recency = [last_order_ts(c) for c in buyers]
    frequency: list[float] = [c.orders_count for c in buyers]
    money: list[float] = [c.total_spent for c in buyers]
    for c in buyers:
        assert c.rfm is not None
        assert re.fullmatch(r"[1-5]{3}", c.rfm), c.rfm
        expected = (
            quintile(recency, last_order_ts(c)),
            quintile(frequency, c.orders_count),
            quintile(money, c.total_spent),
        )
        assert c.rfm == "".join(map(str, expected)), c.email
        assert c.segment in SEGMENT_NAMES - {segments.PROSPECT}


def test_the_quintiles_follow_the_rule_for_any_number_of_buyers_and_ties(db: Session) -> None:
    """The bounds are read at ranks ceil(k * n / 5): for n not a multiple of five, and with
    many equal values, each score is still the rule's."""
    rng = random.Random(7)
    for n in range(1, 13):
        db.execute(text("DELETE FROM customers"))
        db.expunge_all()
        for i in range(n):
            orders = rng.choice([1, 1, 2, 5])
            spent = orders * rng.choice([900, 2000])
            add_customer(db, f"t{i}@example.com", orders=orders, spent=spent,
                         days_ago=rng.choice([3, 3, 40, 200]))  # fmt: skip
        db.commit()
        segments.refresh(db, NOW)
        buyers = list(everyone(db).values())
        columns = (last_order_ts, lambda c: c.orders_count, lambda c: c.total_spent)
        for c in buyers:
            expected = [quintile([of(b) for b in buyers], of(c)) for of in columns]
            assert c.rfm == "".join(map(str, expected)), (n, c.email)


def test_named_segments_describe_the_customers_a_marketer_would_expect(db: Session) -> None:
    build_population(db)
    counts = segments.refresh(db, NOW)

    people = everyone(db)
    assert (people["best@example.com"].rfm, people["best@example.com"].segment) == (
        "555",
        "champions",
    )
    assert people["newcomer@example.com"].segment == "new"
    assert (people["gone@example.com"].rfm, people["gone@example.com"].segment) == ("111", "lost")
    for n in range(3):
        prospect = people[f"prospect{n}@example.com"]
        assert (prospect.segment, prospect.rfm) == ("prospect", None)
    assert counts == Counter(c.segment for c in people.values())
    assert sum(counts.values()) == 53


def test_segment_changed_at_moves_only_for_customers_whose_segment_changed(
    db: Session,
) -> None:
    build_population(db)
    segments.refresh(db, NOW)
    first = {email: c.segment for email, c in everyone(db).items()}

    segments.refresh(db, NOW + DAY)
    assert {c.segment_changed_at for c in everyone(db).values()} == {NOW}

    gone = everyone(db)["gone@example.com"]
    gone.orders_count, gone.total_spent, gone.last_order_at = 5, 400_000, NOW + DAY
    db.add(gone)
    db.commit()
    later = NOW + 2 * DAY
    segments.refresh(db, later)

    people = everyone(db)
    changed = {email for email, c in people.items() if c.segment != first[email]}
    assert "gone@example.com" in changed
    assert people["gone@example.com"].segment == "champions"
    assert len(changed) < len(people) / 2
    for email, c in people.items():
        assert c.segment_changed_at == (later if email in changed else NOW), email


def test_a_refresh_writes_only_the_customers_whose_score_or_segment_changed(
    db: Session,
) -> None:
    build_population(db)
    segments.refresh(db, NOW)
    before = {email: (c.rfm, c.segment) for email, c in everyone(db).items()}
    written: list[int] = []

    def count_updates(*args: Any) -> None:  # conn, cursor, statement, …: SQLAlchemy's hook
        cursor, statement = args[1], args[2]
        if statement.lstrip().upper().startswith("UPDATE CUSTOMERS"):
            written.append(cursor.rowcount)

    engine = db.get_bind()
    sa_event.listen(engine, "after_cursor_execute", count_updates)
    try:
        segments.refresh(db, NOW + DAY)  # nothing changed: nothing written
        assert sum(written) == 0
        gone = everyone(db)["gone@example.com"]
        gone.orders_count, gone.total_spent, gone.last_order_at = 5, 400_000, NOW + DAY
        db.add(gone)
        db.commit()
        written.clear()
        segments.refresh(db, NOW + 2 * DAY)
    finally:
        sa_event.remove(engine, "after_cursor_execute", count_updates)

    after = {email: (c.rfm, c.segment) for email, c in everyone(db).items()}
    moved = {email for email in after if after[email] != before[email]}
    assert "gone@example.com" in moved
    assert sum(written) == len(moved) < len(after) / 2


def test_a_buyer_whose_orders_were_all_cancelled_is_a_prospect_again(db: Session) -> None:
    build_population(db)
    segments.refresh(db, NOW)
    newcomer = everyone(db)["newcomer@example.com"]
    newcomer.orders_count, newcomer.total_spent, newcomer.last_order_at = 0, 0, None
    db.add(newcomer)
    db.commit()

    segments.refresh(db, NOW + DAY)

    newcomer = everyone(db)["newcomer@example.com"]
    assert (newcomer.segment, newcomer.rfm, newcomer.segment_changed_at) == (
        "prospect",
        None,
        NOW + DAY,
    )


def _empty(url: str) -> None:
    tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def both_databases(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    sqlite_url = f"sqlite:///{tmp_path / 'ladder.db'}"
    migrate.upgrade(sqlite_url)
    _empty(postgres_url)
    yield sqlite_url, postgres_url
    _empty(postgres_url)
    get_engine(sqlite_url).dispose()


def test_sqlite_and_postgresql_give_every_customer_the_same_score_and_segment(
    both_databases: tuple[str, str],
) -> None:
    results = []
    for url in both_databases:
        with session(url) as db:
            build_population(db)
            counts = segments.refresh(db, NOW)
            scores = {e: (c.rfm, c.segment, c.segment_changed_at) for e, c in everyone(db).items()}
        results.append((counts, scores))
    (sqlite_counts, sqlite_scores), (pg_counts, pg_scores) = results
    assert len(sqlite_scores) == 53
    assert sqlite_scores == pg_scores
    assert sqlite_counts == pg_counts


def test_a_customer_who_moves_gets_an_exited_and_an_entered_event(db: Session) -> None:
    build_population(db)
    segments.refresh(db, NOW)
    assert db.exec(select(Event)).all() == []  # a first scoring is nobody's move

    gone = everyone(db)["gone@example.com"]
    gone.orders_count, gone.total_spent, gone.last_order_at = 5, 400_000, NOW + DAY
    db.add(gone)
    db.commit()
    later = NOW + 2 * DAY
    segments.refresh(db, later)
    segments.refresh(db, later)  # a rerun at the same moment adds nothing twice

    moved = [e for e in db.exec(select(Event)).all() if e.customer_id == gone.id]
    assert sorted(e.type for e in moved) == ["segment.entered", "segment.exited"]
    for event in moved:
        assert (event.source, event.status, event.occurred_at) == (
            "ladder",
            EventStatus.PENDING,
            later,
        )
        assert event.payload["data"] == {"from": "lost", "to": "champions"}
        assert event.payload["customer"] == {"email": "gone@example.com"}
        assert event.payload["type"] == event.type
    people = everyone(db)
    assert people["gone@example.com"].previous_segment == "lost"
    total = len(db.exec(select(Event)).all())
    changed = [c for c in people.values() if c.segment_changed_at == later]
    assert total == 2 * len(changed)


def test_the_daily_refresh_tells_segment_exited_only_while_a_trigger_listens_to_it(
    db: Session, runtime: Runtime
) -> None:
    """The shipped triggers start on segment.entered only: the clock's refresh writes no
    segment.exited (the same news: segment.entered names both segments); with a trigger on it,
    or cancelled by it, it does."""
    assert not runtime.triggers.listens_to("segment.exited")
    assert segments.told_of(runtime.triggers) == ("segment.entered",)
    build_population(db)
    clock.refresh_segments(db, now=NOW, runtime=runtime)
    gone = everyone(db)["gone@example.com"]
    gone.orders_count, gone.total_spent, gone.last_order_at = 5, 400_000, NOW + DAY
    db.add(gone)
    db.commit()
    clock.refresh_segments(db, now=NOW + 2 * DAY, runtime=runtime)
    told = [(e.type, e.payload["data"]) for e in db.exec(select(Event)).all()
            if e.customer_id == gone.id and e.type.startswith("segment.")]  # fmt: skip
    assert told == [("segment.entered", {"from": "lost", "to": "champions"})]

    for listening in (
        TriggerSet(by_event={"segment.exited": []}),
        TriggerSet(cancelled_by={"segment.exited": ["a-trigger"]}),
    ):
        assert segments.told_of(listening) == ("segment.entered", "segment.exited")


def test_a_preview_names_the_moves_the_refresh_then_makes_and_writes_nothing(
    db: Session,
) -> None:
    build_population(db)
    segments.refresh(db, NOW)
    gone = everyone(db)["gone@example.com"]
    gone.orders_count, gone.total_spent, gone.last_order_at = 5, 400_000, NOW + DAY
    db.add(gone)
    db.commit()
    first = {email: c.segment for email, c in everyone(db).items()}

    preview = segments.preview_moves(db)
    assert {email: c.segment for email, c in everyone(db).items()} == first  # nothing written

    segments.refresh(db, NOW + 2 * DAY)
    people = everyone(db)
    moved = {
        c.id: (first[email], c.segment) for email, c in people.items() if c.segment != first[email]
    }
    assert preview == moved
    assert gone.id is not None and preview[gone.id] == ("lost", "champions")
