"""Delivery retries live on the row: a transient error or a rate limit leaves the delivery
`scheduled` with a later `send_at`, no broker message held for it, and the clock's relay sends
it when due."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session

from models import DeliveryStatus
from tests.integration.test_sendgrid import DUE, due_thank_you, stored
from tests.support.sendgrid_standin import (
    API_KEY,
    Reply,
    SendGridStandIn,
    accepted,
    rate_limited,
    running_standin,
)
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.queue import clock
from worker.queue.actors import deliver as deliver_actor
from worker.queue.actors import deliver_batch
from worker.runtime import Runtime

SECOND = timedelta(seconds=1)


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[SendGridStandIn]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never route the stand-in through a proxy
    with running_standin() as standin:
        yield standin


@pytest.fixture
def live(
    runtime: Runtime,  # noqa: ARG001  (the actors' database, through get_runtime())
    sendgrid: SendGridStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    """What the actors see: SendGrid through the stand-in."""
    monkeypatch.setenv("EMAIL_BACKEND", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    monkeypatch.setenv("SENDGRID_API_HOST", sendgrid.url)
    # One request at a time, so that which request meets which answer is the test's to say.
    monkeypatch.setenv("DELIVERY_IN_FLIGHT", "1")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    yield runtime_module.get_runtime()
    current_time.freeze(None)


def work(broker: StubBroker) -> None:
    """Runs a worker until the deliveries queue and its delay queue are empty: a retry Dramatiq
    held for later would be waited for here, and sent."""
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join("deliveries", timeout=30_000, fail_fast=False)
    finally:
        worker.stop()


def tick(db: Session, runtime: Runtime, at: datetime) -> int:
    """One round of the clock at `at`, the actors' clock frozen there too; the deliveries it
    handed over."""
    current_time.freeze(at)
    return clock.tick(db, now=at, runtime=runtime).deliveries


def test_a_500_leaves_the_delivery_scheduled_for_the_clock_not_for_dramatiqs_retries(
    db: Session, live: Runtime, sendgrid: SendGridStandIn, stub_broker: StubBroker
) -> None:
    delivery_id = due_thank_you(db, live)
    db.commit()
    answers = [Reply(500)]
    sendgrid.answer = lambda _request: answers.pop() if answers else accepted()
    current_time.freeze(DUE)

    deliver_actor.send(delivery_id)  # the actor's own retry options, as in production
    work(stub_broker)

    assert [r.status for r in sendgrid.requests] == [500]  # no retry came from the broker
    waiting = stored(db, delivery_id)
    assert (waiting.status, waiting.failures, waiting.enqueued_at) == ("scheduled", 1, None)
    assert waiting.send_at >= DUE + 5 * SECOND
    assert tick(db, live, DUE + SECOND) == 0  # not due yet: the relay leaves it

    assert tick(db, live, waiting.send_at) == 1
    work(stub_broker)

    assert [r.status for r in sendgrid.requests] == [500, 202]
    sent = stored(db, delivery_id)
    assert (sent.status, sent.failures, sent.attempts) == (DeliveryStatus.SENT, 1, 2)


def test_a_delivery_failing_every_time_is_failed_by_the_clocks_retries_with_the_reason(
    db: Session, live: Runtime, sendgrid: SendGridStandIn, stub_broker: StubBroker
) -> None:
    delivery_id = due_thank_you(db, live)
    db.commit()
    sendgrid.always(Reply(500))
    deliver_actor.send(delivery_id)
    at = DUE
    current_time.freeze(at)
    work(stub_broker)
    while (row := stored(db, delivery_id)).status == DeliveryStatus.SCHEDULED:
        at = row.send_at
        assert tick(db, live, at) == 1
        work(stub_broker)

    limit = live.settings.delivery_max_failures
    assert [r.status for r in sendgrid.requests] == [500] * limit
    assert (row.status, row.failures) == (DeliveryStatus.FAILED, limit)
    assert (row.reason or "").startswith(f"gave up after {limit} transient errors: SendGrid 500")
    # Each wait about twice the one before, from DELIVERY_RETRY_MIN_S (5 s).
    assert at - DUE >= timedelta(seconds=5 * (2 ** (limit - 1) - 1))


def test_a_429_in_a_batch_waits_on_its_rows_and_uses_none_of_the_retry_budget(
    db: Session, live: Runtime, sendgrid: SendGridStandIn, stub_broker: StubBroker
) -> None:
    ids = [due_thank_you(db, live, email=f"c{n}@example.com") for n in range(3)]
    db.commit()
    refusals = [rate_limited(reset_in_s=0)] * 2
    sendgrid.answer = lambda _request: refusals.pop() if refusals else accepted()
    current_time.freeze(DUE)

    deliver_batch.send(ids)
    work(stub_broker)
    rows = [stored(db, i) for i in ids]
    assert [r.status for r in sendgrid.requests] == [429]
    assert [(row.status, row.failures, row.enqueued_at) for row in rows] == [
        (DeliveryStatus.SCHEDULED, 0, None)
    ] * 3
    at = rows[0].send_at  # the limit's reset, for the rest of the batch too
    assert {row.send_at for row in rows} == {at}
    for _ in range(2):
        assert tick(db, live, at) == 3
        work(stub_broker)
        at = max(stored(db, i).send_at for i in ids)

    assert [stored(db, i).status for i in ids] == [DeliveryStatus.SENT] * 3
    # Each 429 stopped its batch: the others were not sent into the limit, nor retried.
    tried = [int(r.json()["custom_args"]["delivery_id"]) for r in sendgrid.requests]
    assert tried == [ids[0], ids[0], *ids]
    assert [r.status for r in sendgrid.requests] == [429, 429, 202, 202, 202]
    assert [stored(db, i).failures for i in ids] == [0, 0, 0]
