"""Ladder end to end: N `order.placed` events → N emails, through one real worker process.

Imports of `worker` happen inside the functions: `worker.queue.broker` reads the environment
at import, and the bench sets it first.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from subprocess import Popen

from sqlalchemy import func, select
from sqlmodel import col

from bench.harness import (
    BenchError,
    cpu_seconds,
    cpu_spent,
    dramatiq_worker,
    wait_until,
    worker_child,
)
from bench.profiling import py_spy
from bench.report import Measurement
from models import Delivery, DeliveryStatus, Event, EventStatus
from models.db import session
from tests.support.factories import order_event
from worker.canonical import CanonicalEvent

# Fires at once on every order, for every customer: one event, exactly one email.
TRIGGER_TOML = """\
name    = "bench-thank-you"
message = "thank_you"
on      = "order.placed"
wait    = "0"
"""
WARMUP_EVENTS = 50
POLL_S = 0.2
# Delivery states on the way to `sent`; anything else means the bench is not measuring sends.
IN_FLIGHT = {DeliveryStatus.SCHEDULED, DeliveryStatus.SENDING, DeliveryStatus.SENT}


@dataclass(frozen=True)
class LadderRun:
    ingest: Measurement
    enqueue: Measurement
    events: Measurement
    emails: Measurement
    worker_system_s: float | None = None  # the system part of emails.worker_cpu_s


def write_triggers(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_thank_you.toml").write_text(TRIGGER_TOML, encoding="utf-8")
    return folder


def order_events(prefix: str, count: int, *, at: datetime) -> list[CanonicalEvent]:
    """One first order each for `count` new customers who accept marketing."""
    return [
        order_event(
            event_id=f"{prefix}-{i}-placed",
            order_id=f"{prefix}-{i}",
            at=at,
            email=f"{prefix}-{i}@example.com",
            consent=True,
        )
        for i in range(count)
    ]


def store(database_url: str, events: Sequence[CanonicalEvent]) -> list[int]:
    """Stores the events through `worker.intake.ingest.store_events`, in its batches; returns
    the ids."""
    from worker import current_time
    from worker.intake.ingest import batched, store_events

    ids: list[int] = []
    with session(database_url) as db:
        for batch in batched(events):
            ids.extend(store_events(db, batch, now=current_time.now()).stored)
    return ids


@dataclass
class Progress:
    processed: int
    failed_events: int
    deliveries: Counter[str]

    def check(self) -> None:
        """Raises BenchError when a row went somewhere the bench does not measure."""
        astray = {s: n for s, n in self.deliveries.items() if s not in IN_FLIGHT}
        if self.failed_events or astray:
            raise BenchError(
                f"rows went astray: {self.failed_events} events failed, deliveries {astray}"
            )


def progress(database_url: str, first: int, last: int) -> Progress:
    """Where the events with ids first..last and their deliveries are."""
    with session(database_url) as db:
        events = Counter(
            {
                str(status): int(count)
                for status, count in db.execute(
                    select(col(Event.status), func.count())
                    .where(col(Event.id).between(first, last))
                    .group_by(Event.status)
                )
            }
        )
        deliveries = Counter(
            {
                str(status): int(count)
                for status, count in db.execute(
                    select(col(Delivery.status), func.count())
                    .where(col(Delivery.cause_event_id).between(first, last))
                    .group_by(Delivery.status)
                )
            }
        )
    return Progress(events[EventStatus.PROCESSED], events[EventStatus.FAILED], deliveries)


@dataclass(frozen=True)
class Timings:
    """Seconds from the first send until all were enqueued, all processed, all sent."""

    enqueued: float
    processed: float
    sent: float


def send_and_wait(
    ids: Sequence[int], *, database_url: str, process: Popen[bytes], log: Path
) -> Timings:
    """Enqueues the event ids as ingest does, then polls the database until every email is sent."""
    from worker.queue import actors, handoff

    first, last = min(ids), max(ids)
    processed_at: float | None = None

    def all_sent() -> bool:
        nonlocal processed_at
        seen = progress(database_url, first, last)
        seen.check()
        if processed_at is None and seen.processed == len(ids):
            processed_at = time.monotonic()
        return seen.deliveries[DeliveryStatus.SENT] == len(ids)

    started = time.monotonic()
    with session(database_url) as db:
        handoff.enqueue_batches(db, actors.process_batch, Event, ids, size=actors.EVENT_BATCH)
    enqueued = time.monotonic()
    finished = wait_until(
        all_sent,
        timeout_s=max(120.0, len(ids) / 20),
        interval_s=POLL_S,
        process=process,
        log=log,
        what=f"waiting for {len(ids)} emails",
    )
    assert processed_at is not None  # a delivery is created only once its event is processed
    return Timings(enqueued - started, processed_at - started, finished - started)


def measure_ladder(
    *,
    database_url: str,
    redis_url: str,
    count: int,
    threads: int,
    env: dict[str, str],
    workdir: Path,
    profile: Path | None = None,
) -> LadderRun:
    """Stores `count` events (timed apart, as ingest), then times them through one worker."""
    from dramatiq.brokers.redis import RedisBroker

    from worker import current_time
    from worker.queue import broker as broker_module

    broker_module.install(RedisBroker(url=redis_url))  # type: ignore[no-untyped-call]
    at = current_time.now() - timedelta(minutes=1)
    warm_ids = store(database_url, order_events("warm", WARMUP_EVENTS, at=at))
    events = order_events("bench", count, at=at)
    started = time.monotonic()
    ids = store(database_url, events)
    ingest_s = time.monotonic() - started
    if len(ids) != count:
        raise BenchError(f"stored {len(ids)} of {count} events")

    log = workdir / "ladder-worker.log"
    with dramatiq_worker(
        ["worker.queue.broker", "worker.queue.actors"], threads=threads, env=env, log=log
    ) as proc:
        # Warm-up: the worker is up, connected, its templates and triggers loaded.
        send_and_wait(warm_ids, database_url=database_url, process=proc, log=log)
        child = worker_child(proc)
        cpu_before = cpu_seconds(child)
        system_before = cpu_seconds(child, system_only=True)
        with py_spy(child, profile) if profile else nullcontext():
            timings = send_and_wait(ids, database_url=database_url, process=proc, log=log)
        cpu_after = cpu_seconds(child)
        system_after = cpu_seconds(child, system_only=True)
    written = len(list((workdir / "outbox").glob("*.eml")))
    if written != WARMUP_EVENTS + count:
        raise BenchError(f"{written} .eml files for {WARMUP_EVENTS + count} sent deliveries")
    return LadderRun(
        ingest=Measurement("ingest: store_events", "events", count, ingest_s),
        enqueue=Measurement("enqueue: process_batch.send", "events", count, timings.enqueued),
        events=Measurement("Ladder: events processed", "events", count, timings.processed),
        emails=Measurement(
            "Ladder: events → emails sent",
            "emails",
            count,
            timings.sent,
            cpu_spent(cpu_before, cpu_after),
        ),
        worker_system_s=cpu_spent(system_before, system_after),
    )
