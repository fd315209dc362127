"""`models.db.insert_many`: rows sent as one JSON document (PostgreSQL) read back as the same
rows sent one by one, every kind of column the schema has, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from models.db import dialect_insert, insert_many
from models.tables import CUSTOMERS, EVENTS

BERLIN = timezone(timedelta(hours=1))
T0 = datetime(2026, 3, 2, 10, 30, tzinfo=BERLIN)


def customer(n: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "email": f"c{n}@example.com",
        "first_name": "Zoë 'NULL' {Ana}, \"quoted\"",
        "birthday": date(1990, 2, 28),
        "accepts_marketing": True,
        "created_at": T0,
        "orders_count": 3,
        "total_spent": 2_000_000_001,
        "average_order_value": 0,
        "p_alive": 0.125,
        "locale": None,
    }
    row.update(changes)
    return row


def read(db: Session, table: Any, order_by: Any) -> list[dict[str, Any]]:
    rows = db.execute(select(table).order_by(order_by)).mappings()
    return [{k: v for k, v in row.items() if k != "id"} for row in rows]


def test_customers_read_back_as_given(db: Session) -> None:
    statement = dialect_insert(db.get_bind().dialect.name)(CUSTOMERS).returning(
        CUSTOMERS.c.email, CUSTOMERS.c.created_at
    )
    given = [customer(1), customer(2, first_name="NULL", birthday=None, p_alive=None)]

    returned = insert_many(db, statement, given).all()
    by_rows = read(db, CUSTOMERS, CUSTOMERS.c.email)
    db.execute(CUSTOMERS.delete())
    for row in given:
        db.execute(CUSTOMERS.insert().values(**row))
    one_by_one = read(db, CUSTOMERS, CUSTOMERS.c.email)

    assert by_rows == one_by_one
    assert sorted(returned) == [
        ("c1@example.com", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        ("c2@example.com", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
    ]
    assert by_rows[1]["first_name"] == "NULL" and by_rows[1]["birthday"] is None
    assert by_rows[0]["total_spent"] == 2_000_000_001


def test_events_with_json_payloads_and_conflicts(db: Session) -> None:
    statement = (
        dialect_insert(db.get_bind().dialect.name)(EVENTS)
        .on_conflict_do_nothing()
        .returning(EVENTS.c.source_event_id)
    )

    def event(n: int, payload: Any) -> dict[str, Any]:
        return {
            "source": "api",
            "source_event_id": f"e{n}",
            "type": "order.created",
            "occurred_at": T0,
            "received_at": T0 + timedelta(seconds=n),
            "payload": payload,
            "status": "received",
            "attempts": 0,
        }

    payloads = [{"a": [1, 2, {"b": None}], "ß": '"{}"'}, {}, {"n": 1.5, "t": True}]
    first = insert_many(db, statement, [event(n, p) for n, p in enumerate(payloads)])
    again = insert_many(db, statement, [event(0, {"other": 1}), event(3, {"new": "row"})])

    assert sorted(first.scalars()) == ["e0", "e1", "e2"]
    assert list(again.scalars()) == ["e3"]  # e0 is a duplicate: skipped, not overwritten
    stored = read(db, EVENTS, EVENTS.c.source_event_id)
    assert [row["payload"] for row in stored] == [*payloads, {"new": "row"}]
    assert stored[2]["received_at"] == datetime(2026, 3, 2, 9, 30, 2, tzinfo=UTC)


def test_a_value_json_cannot_carry_goes_the_plain_way(db: Session) -> None:
    statement = dialect_insert(db.get_bind().dialect.name)(CUSTOMERS).returning(CUSTOMERS.c.p_alive)

    returned = insert_many(db, statement, [customer(1, p_alive=float("nan")), customer(2)])

    nan = "nan" if db.get_bind().dialect.name == "postgresql" else "None"  # SQLite's NULL
    assert sorted(str(value) for value in returned.scalars()) == ["0.125", nan]


def test_rows_naming_other_columns_are_refused_as_sqlalchemy_refuses_them(db: Session) -> None:
    statement = dialect_insert(db.get_bind().dialect.name)(CUSTOMERS)
    short = customer(2)
    del short["p_alive"]

    with pytest.raises(StatementError, match="p_alive"):
        insert_many(db, statement, [customer(1), short])
