"""A worker SIGKILLed while it holds messages (prefetched batches, and retries that would
have waited in its memory): a replacement worker and the clock send every delivery exactly
once within a minute, without waiting REQUEUE_AFTER_S (five minutes) for the relay."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name
from sqlalchemy import select, update
from sqlmodel import Session

from models import Delivery
from tests.scenarios.test_exactly_once import kill, schedule_thank_yous, statuses
from tests.scenarios.test_killed_before_sending import (
    settings_for,
    start_worker,
    suppressions_locked,
    tail,
    waiting_for_the_lock,
)
from tests.support import rabbitmq
from tests.support.sendgrid_standin import (
    Received,
    Reply,
    accepted,
    running_standin,
)
from tests.support.waiting import wait_until
from worker.queue import clock
from worker.queue.actors import deliver_batch
from worker.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
THREADS = 8  # as `start_worker` (test_killed_before_sending) runs it
BATCH = 10
# 30 messages for a worker that takes up to 16 (Dramatiq prefetches twice its threads): when it
# dies it holds eight running and eight waiting, and the queue still holds some for its heir.
DELIVERIES = 300
# `settings_for` gives up the claims the kill leaves `sending` sooner than by default (that
# path is `test_killed_before_sending`'s); the relay's patience here is the production default.
# Within Dramatiq's own 60 s heartbeat timeout, after which its Redis broker may re-queue a
# dead worker's messages by itself (at random, in 1 of 1,000 commands): the relay must do it.
# RabbitMQ gives a dead consumer's unacknowledged messages back as its connection drops: there
# the heir takes them at once, and the claims the kill left are what must not send twice.
SETTLED_WITHIN_S = 50


def taken_by_workers(broker: dramatiq.Broker, broker_url: str) -> int:
    """Messages workers took from the deliveries queues and have not acknowledged."""
    if isinstance(broker, RabbitmqBroker):
        return rabbitmq.unacknowledged(broker_url, "deliveries", dq_name("deliveries"))
    assert isinstance(broker, RedisBroker)
    keys = broker.client.keys(f"{broker.namespace}:__acks__.*")
    return sum(int(broker.client.scard(key)) for key in keys)


@pytest.mark.timeout(75)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_holding_messages_loses_no_email_and_sends_none_twice(
    database_url: str,
    broker_url: str,
    server_broker: dramatiq.Broker,
    db: Session,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    first_answers: set[str] = set()
    lock = threading.Lock()

    def answer(request: Received) -> Reply:
        """Every third delivery's first request is answered 500: it has a retry pending."""
        delivery_id = request.json()["custom_args"]["delivery_id"]
        with lock:
            first = delivery_id not in first_answers
            first_answers.add(delivery_id)
        if first and int(delivery_id) % 3 == 0:
            return Reply(500, {}, b'{"errors": [{"message": "internal error"}]}')
        return accepted()

    with running_standin() as standin:
        standin.answer = answer
        runtime = Runtime(settings_for(database_url, broker_url, standin, requeue_after_s=None))
        delivery_ids = schedule_thank_yous(db, DELIVERIES)
        # Handed over as the relay does, in smaller batches: more messages than one worker takes.
        db.execute(update(Delivery).values(enqueued_at=datetime.now(UTC)))
        db.commit()
        for start in range(0, DELIVERIES, BATCH):
            deliver_batch.send(delivery_ids[start : start + BATCH])

        workers = [start_worker(runtime.settings, log)]
        try:
            wait_until(
                lambda: len(standin.accepted_delivery_ids()) >= 20,
                timeout_s=30,
                what="the first worker to send 20 emails",
                on_timeout=lambda: tail(log),
            )
            with suppressions_locked(database_url):
                # Each thread now waits for the lock after its claim, before its request.
                wait_until(
                    lambda: waiting_for_the_lock(db) == THREADS,
                    timeout_s=30,
                    what="every thread to wait for the lock",
                    on_timeout=lambda: f"{statuses(db)}\n{tail(log)}",
                )
                held = taken_by_workers(server_broker, broker_url)
                requests_at_kill = len(standin.requests)
                kill(workers[0])
            assert held > THREADS  # it died holding batches it had not started
            assert len(standin.requests) == requests_at_kill
            retried = [d for d in first_answers if int(d) % 3 == 0]
            assert retried  # some deliveries met a 500 before the kill and wait for a retry

            workers.append(start_worker(runtime.settings, log))

            def settled() -> bool:
                clock.tick(db, now=datetime.now(UTC), runtime=runtime)
                counts = statuses(db)
                return counts["sent"] + counts["failed"] == DELIVERIES

            wait_until(
                settled,
                timeout_s=SETTLED_WITHIN_S,
                interval_s=0.5,
                what="every delivery to be sent",
                on_timeout=lambda: f"{statuses(db)}\n{tail(log)}",
            )
        finally:
            for process in workers:
                kill(process)

        assert standin.invalid == []
        db.expire_all()
        final = {d.id: d for d in db.scalars(select(Delivery))}
        assert Counter(row.status for row in final.values()) == Counter({"sent": DELIVERIES})
        # Each delivery accepted exactly once, none lost: the ones the dead worker held, its
        # claims stopped before their request and its pending retries among them.
        per_delivery = Counter(int(i) for i in standin.accepted_delivery_ids())
        assert sorted(per_delivery) == sorted(delivery_ids)
        assert [d for d, n in per_delivery.items() if n != 1] == []
