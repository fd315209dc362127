"""Events Ladder makes itself (segment moves, dates), inserted set-based from `customers`.

One `INSERT … SELECT … ON CONFLICT DO NOTHING` per kind: a rerun adds nothing twice, and the
rows wait `pending` with no `enqueued_at`, so the clock's relay hands them to `process`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, func, literal, select
from sqlalchemy import cast as sa_cast
from sqlmodel import Session

from models import EventStatus
from models.db import dialect_insert
from models.tables import CUSTOMERS, EVENTS

SOURCE = "ladder"


def _json_object(dialect: str, pairs: Mapping[str, Any]) -> ColumnElement[Any]:
    build = func.json_build_object if dialect == "postgresql" else func.json_object
    arguments: list[Any] = []
    for key, value in pairs.items():
        arguments += [literal(key, String), value]
    return build(*arguments)


def text_value(value: str | None) -> ColumnElement[Any]:
    # Typed: PostgreSQL cannot guess the type of a parameter inside json_build_object.
    return sa_cast(literal(value, String), String)


def month_day(dialect: str, column: Any) -> ColumnElement[str]:
    """'MM-DD' of a date or timestamp column, on SQLite and PostgreSQL alike."""
    if dialect == "postgresql":
        return func.to_char(column, "MM-DD")
    return func.strftime("%m-%d", column)


def insert_customer_events(
    db: Session,
    *,
    event_type: str,
    payload_type: str,
    key_prefix: str,
    where: ColumnElement[bool],
    data: Mapping[str, ColumnElement[Any]],
    now: datetime,
) -> int:
    """One event per customer matching `where`, with id `<key_prefix><customer id>`.

    Returns how many were new. `payload_type` is the canonical type the payload carries (the
    row's `type` may be a date entry such as `date:customer.birthday`).
    """
    dialect = db.get_bind().dialect.name
    c = CUSTOMERS.c
    payload = _json_object(
        dialect,
        {
            "source": text_value(SOURCE),
            "id": text_value(key_prefix) + sa_cast(c.id, String),
            "type": text_value(payload_type),
            "occurred_at": text_value(now.isoformat()),
            "customer": _json_object(dialect, {"email": c.email}),
            "data": _json_object(dialect, data),
        },
    )
    rows = select(
        literal(SOURCE, String),
        literal(key_prefix, String) + sa_cast(c.id, String),
        literal(event_type, String),
        c.id,
        literal(now, EVENTS.c.occurred_at.type),
        literal(now, EVENTS.c.received_at.type),
        payload,
        literal(EventStatus.PENDING.value, String),
        literal(0),
    ).where(where)
    columns = [
        "source",
        "source_event_id",
        "type",
        "customer_id",
        "occurred_at",
        "received_at",
        "payload",
        "status",
        "attempts",
    ]
    statement = (
        dialect_insert(dialect)(EVENTS)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["source", "source_event_id"])
        .returning(EVENTS.c.id)
    )
    return len(db.execute(statement).all())
