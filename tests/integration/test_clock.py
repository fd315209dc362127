"""The clock: one leader at a time, stuck deliveries recovered, the daily job once a day."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, col, select

from models import Customer, Delivery, Event, Lease
from tests.support.brokers import drain
from tests.support.deliveries import eml_name
from tests.support.factories import order_event
from tests.support.waiting import wait_until
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.canonical import CanonicalEvent
from worker.delivery import claims
from worker.intake.ingest import store_events
from worker.processing import events
from worker.queue import clock, leases
from worker.queue.allinone import running_clock
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import EmailBackend

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def record(db: Session, runtime: Runtime, event: CanonicalEvent, *, now: datetime) -> None:
    """Stores and processes one event, as the `process` actor would."""
    for event_id in store_events(db, [event], now=now).stored:
        events.process(
            db, event_id, now=now, scheduler=Scheduler(runtime.triggers, runtime.settings)
        )


def signed_up(n: int, at: datetime) -> CanonicalEvent:
    return CanonicalEvent.model_validate(
        {
            "id": f"signup-{n}",
            "type": "customer.created",
            "occurred_at": at.isoformat(),
            "customer": {"email": f"new-{n}@example.com", "accepts_marketing": True},
        }
    )


def lease(db: Session) -> tuple[str | None, datetime | None]:
    """The clock lease's holder and expiry, read in a transaction that is closed at once."""
    db.expire_all()
    row = db.get_one(Lease, clock.LEADER_LEASE)
    holder, expires_at = row.holder, row.expires_at
    db.rollback()  # On SQLite an open transaction would hold the lock the clock needs.
    return holder, expires_at


def test_a_second_clock_idles_while_the_first_holds_the_lease_and_takes_over_after_expiry(
    db: Session,
) -> None:
    assert leases.acquire(db, clock.LEADER_LEASE, "clock-a", now=T0, ttl=TTL)
    assert not leases.acquire(
        db, clock.LEADER_LEASE, "clock-b", now=T0 + timedelta(seconds=10), ttl=TTL
    )
    # The leader renews its lease on every tick…
    assert leases.acquire(
        db, clock.LEADER_LEASE, "clock-a", now=T0 + timedelta(seconds=20), ttl=TTL
    )
    assert not leases.acquire(
        db, clock.LEADER_LEASE, "clock-b", now=T0 + timedelta(seconds=45), ttl=TTL
    )
    # …until it stops answering: once its lease has run out, the other one leads.
    assert leases.acquire(
        db, clock.LEADER_LEASE, "clock-b", now=T0 + timedelta(seconds=51), ttl=TTL
    )
    assert not leases.acquire(
        db, clock.LEADER_LEASE, "clock-a", now=T0 + timedelta(seconds=52), ttl=TTL
    )
    assert lease(db) == ("clock-b", T0 + timedelta(seconds=51) + TTL)


def test_a_running_clock_does_no_work_while_another_leads_and_takes_over_when_its_lease_expires(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An event whose message was lost an hour ago: the leading clock's relay would resend it.
    store_events(
        db, [order_event(event_id="lost", order_id="1", at=T0)], now=T0 - timedelta(hours=1)
    )
    # Another clock leads, and stopped answering: its lease runs until T0 + 30 s.
    assert leases.acquire(db, clock.LEADER_LEASE, "other-host:1:1", now=T0, ttl=TTL)
    current_time.freeze(T0 + timedelta(seconds=10))
    attempts: list[bool] = []
    real_acquire = leases.acquire

    def acquire(*args: Any, **kwargs: Any) -> bool:
        attempts.append(real_acquire(*args, **kwargs))
        return attempts[-1]

    monkeypatch.setattr(leases, "acquire", acquire)
    fast = Runtime(runtime.settings.model_copy(update={"clock_tick_s": 0.05}))

    with running_clock(fast):
        wait_until(lambda: len(attempts) >= 3, timeout_s=10, what="three ticks of the clock")
        assert not any(attempts)
        assert lease(db) == ("other-host:1:1", T0 + TTL)
        assert stub_broker.queues["events"].qsize() == 0

        current_time.freeze(T0 + TTL + timedelta(seconds=1))
        wait_until(
            lambda: stub_broker.queues["events"].qsize() == 1,
            timeout_s=10,
            what="the clock to take over and relay the event",
        )
        holder, _ = lease(db)
        assert holder not in (None, "other-host:1:1")

    # Stopped, it lets go of the lease: the next clock need not wait for it to expire.
    assert lease(db) == (None, None)


def claimed_thank_you(
    db: Session,
    runtime: Runtime,
    *,
    requested: bool = False,
    requested_after: timedelta = timedelta(0),
) -> tuple[Delivery, datetime]:
    """A thank-you claimed by a worker that then died: `sending`, with nobody sending it;
    `requested`: it died with the request to the provider on its way, stamped
    `requested_after` its claim (a batch stamps each wave as it leaves)."""
    current_time.freeze(T0)
    record(db, runtime, order_event(event_id="ord-1", order_id="1", at=T0), now=T0)
    delivery = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).one()
    claimed_at = delivery.send_at + timedelta(minutes=1)
    claimed = claims.claim(db, delivery.id, claimed_at)  # type: ignore[arg-type]
    assert claimed is not None
    if requested:
        assert claims.request(db, claimed, claimed_at + requested_after)
    return delivery, claimed_at


def test_a_delivery_left_sending_is_released_and_sent_once_when_the_provider_is_idempotent(
    db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    delivery, claimed_at = claimed_thank_you(db, runtime)
    timeout = timedelta(seconds=runtime.settings.claim_timeout)
    assert runtime.provider.idempotent

    early = clock.tick(db, now=claimed_at + timeout - timedelta(seconds=1), runtime=runtime)
    assert (early.released, early.abandoned, early.deliveries) == (0, 0, 0)
    db.refresh(delivery)
    assert delivery.status == "sending"

    late = claimed_at + timeout + timedelta(seconds=1)
    current_time.freeze(late)
    report = clock.tick(db, now=late, runtime=runtime)
    assert (report.released, report.abandoned, report.deliveries) == (1, 0, 1)
    drain(stub_broker, ("deliveries",))

    db.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("sent", 2, late)
    files = list(Path(runtime.settings.outbox_dir).glob("*.eml"))
    assert [path.name for path in files] == [eml_name(db, delivery.id or 0)]
    assert email.message_from_bytes(files[0].read_bytes())["To"] == "ana@example.com"


def test_a_delivery_left_sending_before_its_request_is_sent_once_by_any_provider(
    db: Session, runtime: Runtime, stub_broker: StubBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery, claimed_at = claimed_thank_you(db, runtime)
    # The actors too send through a provider that is not idempotent (to standard output).
    monkeypatch.setenv("EMAIL_BACKEND", "console")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    sendgrid_like = runtime_module.get_runtime()
    assert not sendgrid_like.provider.idempotent
    timeout = timedelta(seconds=runtime.settings.claim_timeout)

    early = clock.tick(db, now=claimed_at + timeout - timedelta(seconds=1), runtime=sendgrid_like)
    assert (early.released, early.abandoned, early.deliveries) == (0, 0, 0)

    late = claimed_at + timeout + timedelta(seconds=1)
    report = clock.tick(db, now=late, runtime=sendgrid_like)

    # Its worker died before handing it over: nothing can have left, so it goes again.
    assert (report.released, report.abandoned, report.deliveries) == (1, 0, 1)
    current_time.freeze(late)
    drain(stub_broker, ("deliveries",))
    db.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert delivery.provider_message_id == f"console:{delivery.id}"
    # Stamped as its request left: its batch's time, plus what the batch had spent so far.
    assert delivery.requested_at == delivery.sent_at
    assert delivery.sent_at is not None and late <= delivery.sent_at < late + timedelta(seconds=5)


def test_a_delivery_left_sending_during_its_request_is_marked_failed_not_sent_twice(
    db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    delivery, claimed_at = claimed_thank_you(db, runtime, requested=True)
    sendgrid_like = Runtime(
        runtime.settings.model_copy(update={"email_backend": EmailBackend.CONSOLE})
    )
    assert not sendgrid_like.provider.idempotent
    late = claimed_at + timedelta(seconds=runtime.settings.claim_timeout + 1)

    report = clock.tick(db, now=late, runtime=sendgrid_like)

    assert (report.released, report.abandoned, report.deliveries) == (0, 1, 0)
    db.refresh(delivery)
    assert delivery.status == "failed"
    assert delivery.reason is not None and delivery.reason.startswith("outcome unknown")
    assert stub_broker.queues["deliveries"].qsize() == 0


def test_a_request_stamped_late_in_its_batch_ages_from_its_stamp_not_its_claim(
    db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    """A batch claims its deliveries together and stamps each wave as it leaves: one stamped
    just before the claim timeout is still on its way, not given up for its claim's age."""
    timeout = timedelta(seconds=runtime.settings.claim_timeout)
    delivery, claimed_at = claimed_thank_you(
        db, runtime, requested=True, requested_after=timeout - timedelta(seconds=2)
    )
    sendgrid_like = Runtime(
        runtime.settings.model_copy(update={"email_backend": EmailBackend.CONSOLE})
    )

    early = clock.tick(db, now=claimed_at + timeout + timedelta(seconds=1), runtime=sendgrid_like)
    db.refresh(delivery)
    assert (early.released, early.abandoned, delivery.status) == (0, 0, "sending")

    late = clock.tick(db, now=claimed_at + 2 * timeout, runtime=sendgrid_like)
    db.refresh(delivery)
    assert (late.released, late.abandoned, delivery.status) == (0, 1, "failed")
    assert stub_broker.queues["deliveries"].qsize() == 0


def test_the_daily_segment_refresh_runs_once_per_day(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the relay enqueues the thank-you on it)
) -> None:
    record(db, runtime, order_event(event_id="ord-1", order_id="1", at=T0), now=T0)
    record(db, runtime, signed_up(1, T0), now=T0)

    first = clock.tick(db, now=T0, runtime=runtime)
    assert sum(first.segments.values()) == 2
    assert first.segments["prospect"] == 1

    later = T0 + timedelta(hours=13, minutes=59)  # 23:59 the same day
    record(db, runtime, signed_up(2, later), now=later)
    same_day = clock.tick(db, now=later, runtime=runtime)
    assert same_day.segments == {}
    newcomer = db.exec(select(Customer).where(col(Customer.email) == "new-2@example.com")).one()
    assert newcomer.segment is None

    next_day = clock.tick(db, now=T0 + timedelta(hours=14, minutes=1), runtime=runtime)
    assert sum(next_day.segments.values()) == 3
    db.refresh(newcomer)
    assert newcomer.segment == "prospect"
    assert clock.tick(db, now=T0 + timedelta(hours=20), runtime=runtime).segments == {}
    assert db.exec(select(Event).where(col(Event.status) != "processed")).all() == []


def test_a_segment_refresh_asked_for_waits_for_the_events_received_before_it(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the relay enqueues on it)
) -> None:
    """`ladder import` with workers asks for a refresh: the day's refresh has run already,
    and the next must see the imported events, so it waits until they are processed."""
    assert sum(clock.tick(db, now=T0, runtime=runtime).segments.values()) == 0  # the daily one
    asked = T0 + timedelta(minutes=1)
    store_events(db, [signed_up(1, T0)], now=asked)  # an imported event, not yet processed
    leases.request(db, clock.SEGMENTS_JOB, now=asked)

    waiting = clock.tick(db, now=asked + timedelta(seconds=1), runtime=runtime)
    assert waiting.segments == {}
    assert leases.requested(db, clock.SEGMENTS_JOB) == asked

    pending = [e.id for e in db.exec(select(Event).where(col(Event.status) == "pending")) if e.id]
    scheduler = Scheduler(runtime.triggers, runtime.settings)
    events.process_many(db, pending, now=asked, scheduler=scheduler)
    answered = clock.tick(db, now=asked + timedelta(seconds=2), runtime=runtime)
    assert answered.segments == {"prospect": 1}
    assert leases.requested(db, clock.SEGMENTS_JOB) is None
    assert clock.tick(db, now=asked + timedelta(seconds=3), runtime=runtime).segments == {}


def test_a_request_made_while_the_refresh_runs_is_kept_for_the_next_run(db: Session) -> None:
    taken_at = T0
    leases.request(db, clock.SEGMENTS_JOB, now=taken_at - timedelta(seconds=1))
    assert leases.take_requested(db, clock.SEGMENTS_JOB, holder="a", now=taken_at)
    assert not leases.take_requested(db, clock.SEGMENTS_JOB, holder="b", now=taken_at)
    leases.request(db, clock.SEGMENTS_JOB, now=taken_at + timedelta(seconds=5))  # mid-run

    leases.done(db, clock.SEGMENTS_JOB, holder="a", now=taken_at, answers=taken_at)

    assert leases.requested(db, clock.SEGMENTS_JOB) == taken_at + timedelta(seconds=5)


def test_recommendations_are_recomputed_weekly(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the relay enqueues the thank-you on it)
) -> None:
    record(db, runtime, order_event(event_id="ord-1", order_id="1", at=T0), now=T0)

    ran = [
        clock.tick(db, now=T0 + timedelta(days=day), runtime=runtime).recommendations is not None
        for day in range(15)
    ]

    assert [day for day, did in enumerate(ran) if did] == [0, 7, 14]
