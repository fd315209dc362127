"""The relays: a due row whose message a dead worker took is sent again within
STRANDED_AFTER_S once its queue holds nothing, and only after REQUEUE_AFTER_S while a backlog
is queued; while sending is paused no delivery is relayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dramatiq import Broker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select, text, update
from sqlmodel import Session, col

from models import Delivery, Event
from models.db import get_engine
from tests.support.deliveries import seed_due_deliveries
from tests.support.factories import order_event
from worker.delivery import pauses
from worker.intake.ingest import store_events
from worker.queue import broker as broker_module
from worker.queue import clock, relays
from worker.queue.actors import deliver_batch, process_batch
from worker.runtime import Runtime

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
REQUEUE_AFTER = timedelta(seconds=300)
STRANDED_AFTER = timedelta(seconds=30)


@pytest.fixture(params=["redis", "rabbitmq", "stub"])
def any_broker(request: pytest.FixtureRequest) -> Broker:
    """Redis and RabbitMQ, as in production, and the in-process broker of the embedded mode."""
    broker: Broker = request.getfixturevalue(f"{request.param}_broker")
    return broker


def queued(broker: Broker, queue: str) -> int:
    """Messages waiting in `queue`, taken by no worker."""
    if isinstance(broker, RedisBroker):
        return int(broker.client.llen(f"{broker.namespace}:{queue}"))
    if isinstance(broker, RabbitmqBroker):
        return int(broker.get_queue_message_counts(queue)[0])
    assert isinstance(broker, StubBroker)
    return int(broker.queues[queue].qsize())


def delivery_enqueued(db: Session, *, ago: timedelta) -> int:
    [delivery_id] = seed_due_deliveries(db, 1, now=NOW - timedelta(hours=1))
    db.execute(update(Delivery).values(enqueued_at=NOW - ago))
    db.commit()
    return delivery_id


def relay(db: Session) -> int:
    return relays.relay_deliveries(
        db, now=NOW, requeue_after=REQUEUE_AFTER, stranded_after=STRANDED_AFTER
    )


def test_a_due_delivery_whose_message_was_taken_is_sent_again_once_its_queue_is_empty(
    db: Session, any_broker: Broker
) -> None:
    delivery_enqueued(db, ago=STRANDED_AFTER + timedelta(seconds=1))

    assert relay(db) == 1
    assert queued(any_broker, "deliveries") == 1
    assert relay(db) == 0  # enqueued just now: its new message is left its turn


def test_a_delivery_enqueued_a_moment_ago_is_left_to_its_message(
    db: Session, any_broker: Broker
) -> None:
    delivery_enqueued(db, ago=STRANDED_AFTER - timedelta(seconds=1))

    assert relay(db) == 0
    assert queued(any_broker, "deliveries") == 0


def test_while_a_backlog_is_queued_a_delivery_waits_requeue_after(
    db: Session, any_broker: Broker
) -> None:
    delivery_id = delivery_enqueued(db, ago=REQUEUE_AFTER - timedelta(seconds=1))
    deliver_batch.send([delivery_id + 1_000])  # someone else's message, not yet taken

    assert relay(db) == 0  # it may be waiting its turn behind the backlog
    db.execute(update(Delivery).values(enqueued_at=NOW - REQUEUE_AFTER - timedelta(seconds=1)))
    db.commit()
    assert relay(db) == 1
    assert queued(any_broker, "deliveries") == 2


def test_a_pending_event_whose_message_was_taken_is_sent_again_once_its_queue_is_empty(
    db: Session, any_broker: Broker
) -> None:
    [event_id] = store_events(
        db, [order_event(event_id="e-1", order_id="1", at=NOW)], now=NOW
    ).stored
    db.execute(update(Event).where(Event.id == event_id).values(enqueued_at=NOW - STRANDED_AFTER))  # type: ignore[arg-type]
    db.commit()

    stranded = {"requeue_after": REQUEUE_AFTER, "stranded_after": STRANDED_AFTER}
    assert relays.relay_inbox(db, now=NOW, **stranded) == 0  # no inbox row waits
    assert relays.relay_events(db, now=NOW - timedelta(seconds=1), **stranded) == 0
    assert relays.relay_events(db, now=NOW + timedelta(seconds=1), **stranded) == 1
    assert queued(any_broker, "events") == 1
    process_batch.send([event_id])  # a backlog: the relay waits REQUEUE_AFTER again
    assert relays.relay_events(db, now=NOW + 2 * STRANDED_AFTER, **stranded) == 0


def test_a_broker_that_cannot_say_what_it_holds_gets_requeue_after(
    db: Session, stub_broker: StubBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert broker_module.waiting_messages("deliveries") == 0
    monkeypatch.setattr(broker_module, "waiting_messages", lambda _queue: None)  # Redis away
    delivery_enqueued(db, ago=STRANDED_AFTER + timedelta(seconds=1))

    assert relay(db) == 0
    assert queued(stub_broker, "deliveries") == 0


def test_while_sending_is_paused_the_clock_relays_no_delivery_until_the_probe(
    db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    delivery_enqueued(db, ago=REQUEUE_AFTER * 2)
    backend = runtime.settings.email_backend.value
    pauses.pause(db, backend, "SendGrid 401", now=NOW, probe_after_s=60)

    assert clock.tick(db, now=NOW, runtime=runtime).deliveries == 0
    assert queued(stub_broker, "deliveries") == 0
    # The probe is due: a delivery goes, and the first worker to take one tries the key again.
    assert clock.tick(db, now=NOW + timedelta(seconds=61), runtime=runtime).deliveries == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_relay_skips_a_delivery_a_worker_holds_and_takes_the_rest_without_waiting(
    db: Session, database_url: str, server_broker: Broker
) -> None:
    """A worker's batch locks its rows in id order while it writes their answers; the relay
    must not wait for one of them while holding others (the two deadlocked on main once)."""
    ids = seed_due_deliveries(db, 3, now=NOW - timedelta(hours=1))
    db.commit()
    with get_engine(database_url).connect() as worker:  # a batch writing its answers
        held = select(col(Delivery.id)).where(col(Delivery.id) == ids[1]).with_for_update()
        worker.execute(held)
        db.execute(text("SET lock_timeout = '2s'"))  # waiting would fail the test, not hang it

        assert relay(db) == 2
        assert queued(server_broker, "deliveries") == 1  # one message for the batch of two
        worker.rollback()

    assert relays.relay_deliveries(db, now=NOW, requeue_after=REQUEUE_AFTER) == 1  # the held row
    enqueued = db.execute(
        select(col(Delivery.id)).where(col(Delivery.enqueued_at) == NOW)
    ).scalars()
    assert sorted(enqueued) == ids
