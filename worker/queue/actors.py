"""The Dramatiq actors: ids in, a few lines each; the work lives in the stage packages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dramatiq
from sqlmodel import Session

from models import Delivery, Event
from models.db import session
from worker import current_time
from worker.delivery import batches, sending
from worker.errors import PermanentError
from worker.intake import inbox, inbox_batch
from worker.processing import events
from worker.queue import broker as _broker  # noqa: F401  (sets the global broker first)
from worker.queue import handoff
from worker.runtime import Runtime, get_runtime
from worker.scheduling.matching import Scheduler

logger = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
# Ids per message for the batch actors: ingest stores up to 1,000 events per commit.
EVENT_BATCH = 100
# Each queue's retry policy, for every actor on it; each actor adds its own time limit.
EVENTS: dict[str, Any] = {
    "queue_name": "events",
    "max_retries": 10,
    "min_backoff": 1_000,
    "max_backoff": 300_000,
    "max_age": 7 * DAY_MS,
}
DELIVERIES: dict[str, Any] = {
    "queue_name": "deliveries",
    "max_retries": 8,
    "min_backoff": 5_000,
    "max_backoff": 600_000,
    "max_age": 7 * DAY_MS,
}


@contextmanager
def _session(runtime: Runtime) -> Iterator[Session]:
    """A unit of work's session, after taking up what the studio published (once a second)."""
    with session(runtime.settings.database_url) as db:
        runtime.follow(db)
        yield db


def _scheduler(runtime: Runtime, now: datetime) -> Scheduler:
    """Matching for the events a batch applies; deliveries due at once are handed over."""
    return Scheduler(
        runtime.triggers,
        runtime.settings,
        enqueued_at=handoff.enqueue_at(now),
        programme=runtime.programme,
        rungs=runtime.rung_scheme,
    )


@dramatiq.actor(**EVENTS, time_limit=60_000, throws=(PermanentError,))
def process(event_id: int) -> None:
    """Process one stored event; does nothing if it was already processed."""
    runtime = get_runtime()
    with _session(runtime) as db:
        now = current_time.now()
        due = events.process(db, event_id, now=now, scheduler=_scheduler(runtime, now))
        handoff.enqueue(db, deliver, Delivery, due)


@dramatiq.actor(**EVENTS, time_limit=300_000)
def process_batch(event_ids: list[int]) -> None:
    """Process many stored events in one transaction, each moved by its own compare-and-set.

    Events already processed are skipped; one that fails for good is marked failed on its row.
    """
    runtime = get_runtime()
    with _session(runtime) as db:
        now = current_time.now()
        result = events.process_many(db, event_ids, now=now, scheduler=_scheduler(runtime, now))
        handoff.enqueue_batches(db, deliver_batch, Delivery, result.due, size=EVENT_BATCH)


@dramatiq.actor(**DELIVERIES, time_limit=120_000)
def deliver(delivery_id: int) -> None:
    """Send one delivery; does nothing if it is no longer scheduled or not yet due.

    A provider's refusal is recorded on the row, a retry as its new `send_at`: the clock's
    relay sends it when due. Dramatiq's retries are left for errors before that (the
    database away), which the row cannot record."""
    runtime = get_runtime()
    with _session(runtime) as db:
        sending.deliver(db, delivery_id, now=current_time.now(), runtime=runtime)


@dramatiq.actor(**EVENTS, time_limit=60_000)
def normalise(inbox_id: int) -> None:
    """Read one stored webhook delivery into canonical events; does nothing if already read.
    Nothing sends it any more (`normalise_batch` does its work); kept for the messages an
    older release left queued."""
    runtime = get_runtime()
    with _session(runtime) as db:
        now = current_time.now()
        new = inbox.normalise(
            db, inbox_id, now=now, settings=runtime.settings, enqueued_at=handoff.enqueue_at(now)
        )
        handoff.enqueue_batches(db, process_batch, Event, new, size=EVENT_BATCH)


@dramatiq.actor(**EVENTS, time_limit=300_000)
def normalise_batch(inbox_ids: list[int]) -> None:
    """Read many stored webhook deliveries into canonical events in one transaction, each row
    moved by its own compare-and-set; one `process_batch` per 100 events they gave."""
    runtime = get_runtime()
    with _session(runtime) as db:
        now = current_time.now()
        new = inbox_batch.normalise_many(
            db, inbox_ids, now=now, settings=runtime.settings, enqueued_at=handoff.enqueue_at(now)
        )
        handoff.enqueue_batches(db, process_batch, Event, new, size=EVENT_BATCH)


@dramatiq.actor(**DELIVERIES, time_limit=600_000)
def deliver_batch(delivery_ids: list[int]) -> None:
    """Send many deliveries, each as `deliver` would. Those the batch had no time for (a
    provider that is not idempotent and slow) go at once as a new batch; those put back for
    later (a transient error, a rate limit) wait on their rows for the clock's relay."""
    runtime = get_runtime()
    with _session(runtime) as db:
        outcome = batches.deliver_many(db, delivery_ids, now=current_time.now(), runtime=runtime)
        if outcome.later:
            # Out of time, not failed: a fresh message, using none of the retry budget.
            handoff.enqueue_batches(db, deliver_batch, Delivery, outcome.later, size=EVENT_BATCH)
