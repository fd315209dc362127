"""The clock: enqueues due deliveries, re-enqueues rows left waiting, runs the daily jobs.

One clock leads at a time (a lease row in the database); a second one idles until the
lease expires, so running two is harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from models import Delivery, DeliveryStatus, Event, EventStatus, InboxItem, InboxStatus, Lease
from models.db import insert_ignoring_duplicates, session
from worker import current_time
from worker.audience import dates, recommendations, segments
from worker.delivery import feedback
from worker.intake import spool
from worker.queue import broker, handoff
from worker.runtime import Runtime

logger = logging.getLogger(__name__)

LEADER_LEASE = "clock"
SEGMENTS_JOB = "segments.refresh"
DATES_JOB = "dates.sweep"
RECOMMENDATIONS_JOB = "recommendations.refresh"
# What is bought together moves slowly; a full recompute weekly, not daily, keeps the clock
# light on a long order history (and the demo's two simulated years fast).
RECOMMENDATIONS_EVERY = timedelta(days=7)
PROVIDER_EVENTS_JOB = "provider_events.reapply"
BATCH = 1000


@dataclass
class TickReport:
    deliveries: int = 0
    events: int = 0
    inbox: int = 0
    spooled: int = 0
    released: int = 0
    abandoned: int = 0
    segments: dict[str, int] = field(default_factory=dict)
    dates: dict[str, int] = field(default_factory=dict)
    recommendations: int | None = None  # rows kept, when the weekly refresh ran
    provider_events: int = 0  # stored provider events applied late


def acquire(db: Session, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Takes or renews the lease `name`. False while another holder's lease is unexpired."""
    insert_ignoring_duplicates(db, Lease.__table__, [{"name": name}], Lease.__table__.c.name)  # type: ignore[attr-defined]
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == name,
            (col(Lease.holder) == holder)
            | col(Lease.holder).is_(None)
            | (col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def release(db: Session, name: str, holder: str) -> None:
    db.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(holder=None, expires_at=None)
    )
    db.commit()


def _relay(
    db: Session, model: Any, waiting: Any, now: datetime, requeue_after: timedelta
) -> list[int]:
    """Marks up to BATCH waiting rows enqueued now, commits, returns their ids."""
    stale = col(model.enqueued_at).is_(None) | (col(model.enqueued_at) < now - requeue_after)
    ids = list(
        db.execute(select(model.id).where(waiting, stale).order_by(model.id).limit(BATCH)).scalars()
    )
    if ids:
        db.execute(update(model).where(col(model.id).in_(ids)).values(enqueued_at=now))
    db.commit()
    return ids


def relay_deliveries(db: Session, *, now: datetime, requeue_after: timedelta) -> int:
    from worker.queue.actors import EVENT_BATCH, deliver_batch

    if not broker.has_consumer():  # nobody would read the messages: leave the rows waiting
        return 0
    waiting = (col(Delivery.status) == DeliveryStatus.SCHEDULED) & (col(Delivery.send_at) <= now)
    total = 0
    while ids := _relay(db, Delivery, waiting, now, requeue_after):
        total += handoff.enqueue_batches(db, deliver_batch, Delivery, ids, size=EVENT_BATCH)
        if len(ids) < BATCH:
            break
    return total


def relay_events(db: Session, *, now: datetime, requeue_after: timedelta) -> int:
    from worker.queue.actors import EVENT_BATCH, process_batch

    if not broker.has_consumer():
        return 0
    waiting = col(Event.status) == EventStatus.PENDING
    total = 0
    while ids := _relay(db, Event, waiting, now, requeue_after):
        total += handoff.enqueue_batches(db, process_batch, Event, ids, size=EVENT_BATCH)
        if len(ids) < BATCH:
            break
    return total


def relay_inbox(db: Session, *, now: datetime, requeue_after: timedelta) -> int:
    """Webhook deliveries stored but not normalised (a lost message, or one waiting its turn)."""
    from worker.queue.actors import normalise

    if not broker.has_consumer():
        return 0
    waiting = col(InboxItem.status) == InboxStatus.PENDING
    total = 0
    while ids := _relay(db, InboxItem, waiting, now, requeue_after):
        total += handoff.enqueue(db, normalise, InboxItem, ids)
        if len(ids) < BATCH:
            break
    return total


def recover_stale_claims(
    db: Session, *, now: datetime, claim_timeout: timedelta, idempotent: bool
) -> tuple[int, int]:
    """Deliveries left `sending` by a worker that died: sent again if the provider makes a
    second send harmless, else failed with the reason, never risking a second email.

    Returns (released, abandoned).
    """
    stale = (col(Delivery.status) == DeliveryStatus.SENDING) & (
        col(Delivery.claimed_at) < now - claim_timeout
    )
    if idempotent:
        result = db.execute(
            update(Delivery)
            .where(stale)
            .values(
                status=DeliveryStatus.SCHEDULED,
                enqueued_at=None,
                reason="released: the worker that claimed it stopped answering",
            )
        )
        db.commit()
        return result.rowcount, 0  # type: ignore[attr-defined]
    result = db.execute(
        update(Delivery)
        .where(stale)
        .values(
            status=DeliveryStatus.FAILED,
            reason="outcome unknown: the worker stopped while sending; "
            "not resent to avoid a duplicate",
        )
    )
    db.commit()
    return 0, result.rowcount  # type: ignore[attr-defined]


def is_due_daily(db: Session, job: str, now: datetime) -> bool:
    """True once per UTC day for `job`: a compare-and-set on its lease row's last_run_at."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    row = db.execute(select(col(Lease.last_run_at)).where(col(Lease.name) == job)).first()
    if row is not None and row[0] is not None and row[0] >= midnight:
        db.commit()
        return False  # ran today already: the common case costs one read, no write
    if row is None:
        insert_ignoring_duplicates(db, Lease.__table__, [{"name": job}], Lease.__table__.c.name)  # type: ignore[attr-defined]
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            col(Lease.last_run_at).is_(None) | (col(Lease.last_run_at) < midnight),
        )
        .values(last_run_at=now)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def is_due_every(db: Session, job: str, now: datetime, period: timedelta) -> bool:
    """True at most once per `period` for `job`: a compare-and-set on its lease row."""
    insert_ignoring_duplicates(db, Lease.__table__, [{"name": job}], Lease.__table__.c.name)  # type: ignore[attr-defined]
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            col(Lease.last_run_at).is_(None) | (col(Lease.last_run_at) <= now - period),
        )
        .values(last_run_at=now)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def sweep_dates(db: Session, *, now: datetime, runtime: Runtime) -> dict[str, int]:
    """Today's and tomorrow's date events (UTC): a day ahead for zones east of UTC, and
    today's so a clock started late in the day still finds them. Reruns add nothing."""
    triggers = [compiled.trigger for compiled in runtime.triggers.by_name.values()]
    added: dict[str, int] = {}
    for day in (now.date(), now.date() + timedelta(days=1)):
        for entry, count in dates.sweep(db, triggers, day=day, now=now).items():
            added[entry] = added.get(entry, 0) + count
    return added


def tick(db: Session, *, now: datetime, runtime: Runtime) -> TickReport:
    """One round of the clock's work. Safe to run twice: every step is a compare-and-set."""
    settings = runtime.settings
    requeue_after = timedelta(seconds=settings.requeue_after_s)
    report = TickReport()
    if is_due_daily(db, SEGMENTS_JOB, now):
        report.segments = segments.refresh(db, now)
    if is_due_daily(db, DATES_JOB, now):
        report.dates = sweep_dates(db, now=now, runtime=runtime)
    if is_due_every(db, RECOMMENDATIONS_JOB, now, RECOMMENDATIONS_EVERY):
        report.recommendations = recommendations.refresh(db)
    report.released, report.abandoned = recover_stale_claims(
        db,
        now=now,
        claim_timeout=timedelta(seconds=settings.claim_timeout_s),
        idempotent=runtime.provider.idempotent,
    )
    report.inbox = relay_inbox(db, now=now, requeue_after=requeue_after)
    report.events = relay_events(db, now=now, requeue_after=requeue_after)
    report.deliveries = relay_deliveries(db, now=now, requeue_after=requeue_after)
    report.spooled = spool.drain(db, settings.spool_dir)
    if is_due_every(db, PROVIDER_EVENTS_JOB, now, requeue_after):
        report.provider_events = feedback.reapply_stale(
            db, now=now, older_than=requeue_after, settings=settings
        )
    return report


def run(runtime: Runtime, stop: threading.Event) -> None:
    """Ticks every `clock_tick_s` while leader, until `stop` is set (SIGTERM within a tick)."""
    settings = runtime.settings
    holder = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    ttl = timedelta(seconds=max(30.0, settings.clock_tick_s * 5))
    leading: bool | None = None  # unknown: the first round logs which it is
    while not stop.is_set():
        try:
            with session(settings.database_url) as db:
                now = current_time.now()
                is_leader = acquire(db, LEADER_LEASE, holder, now=now, ttl=ttl)
                if is_leader != leading:
                    leading = is_leader
                    logger.info("clock %s", "leading" if leading else "idle: another clock leads")
                if leading:
                    report = tick(db, now=now, runtime=runtime)
                    if report.deliveries or report.events or report.released or report.abandoned:
                        logger.info("clock tick: %s", report)
        except Exception:  # a database blip must not stop the clock; the next tick retries
            logger.exception("clock tick failed")
        stop.wait(settings.clock_tick_s)
    with session(settings.database_url) as db:
        release(db, LEADER_LEASE, holder)
