"""Which actor gets which committed rows: how the entry points (web, CLI, clock, demo) hand
ids to the broker. Stages below return ids; only the queue layer sends them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from models import Delivery, Event, InboxItem
from worker.canonical import CanonicalEvent
from worker.intake.inbox_batch import BATCH as INBOX_BATCH
from worker.intake.ingest import IngestResult, store_events
from worker.queue import handoff
from worker.queue.actors import EVENT_BATCH, deliver_batch, normalise_batch, process_batch

enqueue_at = handoff.enqueue_at


def events(db: Session, ids: Sequence[int]) -> int:
    """`process_batch` for committed events, 100 ids a message. Returns how many were sent."""
    return handoff.enqueue_batches(db, process_batch, Event, ids, size=EVENT_BATCH)


def deliveries(db: Session, ids: Sequence[int]) -> int:
    """`deliver_batch` for committed, due deliveries. Returns how many were sent."""
    return handoff.enqueue_batches(db, deliver_batch, Delivery, ids, size=EVENT_BATCH)


def inbox(db: Session, ids: Sequence[int]) -> int:
    """`normalise_batch` for committed inbox rows, 100 ids a message. Returns how many ids
    were sent."""
    return handoff.enqueue_batches(db, normalise_batch, InboxItem, ids, size=INBOX_BATCH)


def inbox_together(database_url: str, ids: Sequence[int]) -> int:
    """`normalise_batch` for committed inbox rows, 100 ids a message, in one round trip: for
    the web process, whose group commit hands over all the ids it committed at once."""
    return handoff.enqueue_together(database_url, normalise_batch, InboxItem, ids, size=INBOX_BATCH)


def ingest(db: Session, batch: Sequence[CanonicalEvent], *, now: datetime) -> IngestResult:
    """Stores the new events, commits, then hands their ids to `process_batch`."""
    result = store_events(db, batch, now=now, enqueued_at=enqueue_at(now))
    result.enqueued = events(db, result.stored)
    return result
