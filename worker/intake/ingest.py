"""Stores canonical events durably, deduplicated; the caller hands their ids to `process`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from models import EventStatus
from models.db import insert_ignoring_duplicates
from models.tables import EVENTS
from worker.canonical import CanonicalEvent

MAX_BATCH = 1000


@dataclass
class IngestResult:
    stored: list[int] = field(default_factory=list)  # ids of the new event rows
    duplicates: int = 0
    enqueued: int = 0


def store_events(
    db: Session,
    events: Sequence[CanonicalEvent],
    *,
    now: datetime,
    enqueued_at: datetime | None = None,
) -> IngestResult:
    """Inserts the events that are new on (source, id) and commits; duplicates are counted.

    Returns only after the commit; the caller answers the client then, and enqueues.
    `enqueued_at`: when the caller will hand the new ids to the broker; None leaves them to
    the clock's relay.
    """
    unique: dict[tuple[str, str], CanonicalEvent] = {}
    for item in events:
        unique.setdefault((item.source, item.id), item)
    rows = [
        {
            "source": item.source,
            "source_event_id": item.id,
            "type": item.type,
            "occurred_at": item.occurred_at,
            "received_at": now,
            "payload": item.model_dump(mode="json", exclude_none=True),
            "status": EventStatus.PENDING.value,
            "enqueued_at": enqueued_at,
            "attempts": 0,
        }
        for item in unique.values()
    ]
    stored = insert_ignoring_duplicates(db, EVENTS, rows, EVENTS.c.id)
    db.commit()
    return IngestResult(stored=sorted(stored), duplicates=len(events) - len(stored))


def batched(
    items: Iterable[CanonicalEvent], size: int = MAX_BATCH
) -> Iterable[list[CanonicalEvent]]:
    batch: list[CanonicalEvent] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
