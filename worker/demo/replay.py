"""Replays events through the real pipeline on a simulated clock: ingest, broker, worker, clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from sqlalchemy import func, select
from sqlmodel import Session, col

from models import Delivery, DeliveryStatus, RewardState
from models.tables import CUSTOMERS, LOYALTY_REWARDS
from worker import current_time
from worker.canonical import CanonicalEvent
from worker.intake.ingest import batched
from worker.queue import clock, dispatch
from worker.queue.allinone import installed, running_worker
from worker.queue.broker import QUEUES
from worker.runtime import Runtime, in_process

STEP = timedelta(hours=6)  # the clock ticks this often in simulated time
TAIL = timedelta(days=70)  # keep the clock going this long after the last event: win-backs fire
JOIN_TIMEOUT_S = 600.0  # a step that takes this long has a stuck worker, not a slow one


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    ticks: int  # clock ticks that had work to do


@contextmanager
def embedded_runtime(
    database: Path, outbox: Path, measurement: Path | None = None
) -> Iterator[Runtime]:
    """The embedded default on `database` and `outbox` (and the measurement files in
    `measurement`), seen by the actors via get_runtime(); restored when the block ends."""
    wanted = {
        "DATABASE_URL": f"sqlite:///{database.resolve()}",
        "OUTBOX_DIR": str(outbox.resolve()),
        "EMAIL_BACKEND": "file",
        "LOYALTY_PROGRAMME": "points-and-tiers",  # the shipped example, for the summary
        # A tenth of the shop gets no marketing at all: the report's "all marketing" line
        # measures the whole programme against them, with its interval.
        "GLOBAL_HOLDOUT": "0.1",
    }
    if measurement is not None:
        wanted["MEASUREMENT_DIR"] = str(measurement.resolve())
    with in_process(wanted) as runtime:
        yield runtime


@contextmanager
def private_broker(threads: int) -> Iterator[StubBroker]:
    """A fresh in-process broker with a worker consuming it; the previous one is put back after."""
    broker = StubBroker()
    with installed(broker), running_worker(threads):
        yield broker


def drain(broker: StubBroker, timeout_s: float = JOIN_TIMEOUT_S) -> None:
    """Waits until every message on the queues, and on their delay queues, has been handled.

    Like `StubBroker.join`, without its helper thread per call (thousands of steps each wait
    on four queues, mostly empty), and without fail_fast: an event or delivery that failed for
    good is a failed row in the database, reported in the summary, not a reason to stop.
    """
    deadline = time.monotonic() + timeout_s
    queues = [broker.queues[name] for queue in QUEUES for name in (queue, dq_name(queue))]
    while any(queue.unfinished_tasks for queue in queues):
        for queue in queues:
            with queue.all_tasks_done:
                while queue.unfinished_tasks:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"the worker did not finish within {timeout_s:.0f} s")
                    queue.all_tasks_done.wait(remaining)


def replay(
    db: Session,
    events: Iterable[CanonicalEvent],
    *,
    broker: StubBroker,
    runtime: Runtime,
    on_step: Callable[[datetime], None] | None = None,
    until: datetime | None = None,
) -> Period:
    """Moves the simulated clock forward in STEPs: each step ingests the events that happened
    in it, lets the worker process them, ticks the clock and lets the worker send what is due.
    It stops TAIL after the last event or, given `until`, at `until`: nothing after it is
    replayed (the demo's shop ends today, never in the future)."""
    stream = iter(events)
    upcoming = next(stream, None)
    if upcoming is None:
        raise ValueError("no events to replay")
    start = upcoming.occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)
    at, last_event, ticks = start, start, 0

    def more() -> bool:
        if until is not None:
            return at < until
        return upcoming is not None or at < last_event + TAIL

    while more():
        at = min(at + STEP, until) if until is not None else at + STEP
        chunk: list[CanonicalEvent] = []
        while upcoming is not None and upcoming.occurred_at <= at:
            chunk.append(upcoming)
            last_event = upcoming.occurred_at
            upcoming = next(stream, None)
        ticks += advance(db, chunk, at=at, broker=broker, runtime=runtime)
        if on_step is not None:
            on_step(at)
    return Period(start=start, end=at, ticks=ticks)


def advance(
    db: Session, chunk: list[CanonicalEvent], *, at: datetime, broker: StubBroker, runtime: Runtime
) -> bool:
    """One step at simulated time `at`: what the web, the worker and the clock would do.

    Returns whether the clock ticked: it is skipped when it would find nothing to do.
    """
    current_time.freeze(at)
    chunk = use_rewards(db, chunk)
    for batch in batched(chunk):
        dispatch.ingest(db, batch, now=at)
    drain(broker)
    if not has_clock_work(db, at):
        return False
    clock.tick(db, now=at, runtime=runtime)
    drain(broker)
    return True


def use_rewards(db: Session, chunk: list[CanonicalEvent]) -> list[CanonicalEvent]:
    """The demo's customers use a reward they have (the soonest to expire) at their next
    order: its code rides on the order, as a platform's order webhook would carry it."""
    placing = sorted(
        {e.customer.email for e in chunk if e.type == "order.placed" and e.customer.email}
    )
    if not placing:
        return chunk
    r = LOYALTY_REWARDS.c
    held = db.execute(
        select(CUSTOMERS.c.email, r.code)
        .join(CUSTOMERS, CUSTOMERS.c.id == r.customer_id)
        .where(CUSTOMERS.c.email.in_(placing), r.state == RewardState.UNLOCKED.value)
        .where(r.code.is_not(None))
        .order_by(r.expires_at, r.id)
    ).all()
    db.commit()  # end the read transaction: the worker threads write next
    codes: dict[str, str] = {}
    for email, code in held:
        codes.setdefault(email, code)
    used = []
    for event in chunk:
        code = codes.pop(event.customer.email or "", None) if event.type == "order.placed" else None
        if code is not None and event.order is not None:
            order = event.order.model_copy(update={"discount_codes": [code]})
            event = event.model_copy(update={"order": order})
        used.append(event)
    return used


def has_clock_work(db: Session, at: datetime) -> bool:
    """True at the first step of a day (the daily segment refresh) or when a delivery is due.

    A running clock ticks every few seconds and mostly finds nothing; the demo skips those
    ticks, thousands of them in a small shop, and keeps every tick that does something.
    """
    if (at - STEP).date() != at.date():
        return True
    due = select(func.min(Delivery.send_at)).where(col(Delivery.status) == DeliveryStatus.SCHEDULED)
    first_due = db.execute(due).scalar_one()
    db.commit()  # end the read transaction: the worker threads write next
    return first_due is not None and first_due <= at
