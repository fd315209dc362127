"""The loyalty programme's own events (`points.earned`, `tier.changed`): stored `pending` with no
`enqueued_at` in the transaction that made them, so the clock's relay hands them to `process`
and triggers answer them like any other event. Each id names its cause: a rerun adds none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from models import EventStatus
from models.db import insert_ignoring_duplicates
from models.tables import EVENTS

SOURCE = "ladder"  # as `audience.own_events`: the source of every event Ladder makes


def announce(
    db: Session,
    *,
    event_type: str,
    key: str,
    customer_id: int,
    email: str,
    data: dict[str, Any],
    now: datetime,
) -> bool:
    """Stores one event `<event_type>:<key>` for the customer. False if it was stored before."""
    row = notice(
        event_type=event_type, key=key, customer_id=customer_id, email=email, data=data, now=now
    )
    return bool(insert_ignoring_duplicates(db, EVENTS, [row], EVENTS.c.id))


def announce_many(db: Session, rows: list[dict[str, Any]]) -> int:
    """Stores the events `rows` (each made by `notice`) in one statement; returns how many
    were new."""
    return len(insert_ignoring_duplicates(db, EVENTS, rows, EVENTS.c.id))


def notice(
    *,
    event_type: str,
    key: str,
    customer_id: int,
    email: str,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The event row `<event_type>:<key>` for the customer, for `announce_many`."""
    event_id = f"{event_type}:{key}"
    payload = {
        "source": SOURCE,
        "id": event_id,
        "type": event_type,
        "occurred_at": now.isoformat(),
        "customer": {"email": email},
        "data": data,
    }
    return {
        "source": SOURCE,
        "source_event_id": event_id,
        "type": event_type,
        "customer_id": customer_id,
        "occurred_at": now,
        "received_at": now,
        "payload": payload,
        "status": EventStatus.PENDING.value,
        "attempts": 0,
    }
