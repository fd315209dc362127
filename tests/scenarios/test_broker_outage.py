"""A broker outage delays work and never loses it: the database holds every event."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker
from sqlmodel import Session, col, select

from models import Customer, Delivery, Event
from tests.support.brokers import drain
from tests.support.services import RedisServer
from tests.support.tcp_relay import TcpRelay
from tests.support.waiting import wait_until
from tests.support.web import TestClient
from worker import current_time
from worker.queue import broker as broker_module
from worker.queue import clock, relays
from worker.queue.allinone import installed
from worker.runtime import Runtime
from worker.web import create_app

# The web app and a Redis worker read and write on their own connections.
pytestmark = pytest.mark.commits

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def order(n: int) -> dict[str, Any]:
    return {
        "source": "api",
        "id": f"order-{n}-placed",
        "type": "order.placed",
        "occurred_at": T0.isoformat(),
        "customer": {
            "email": f"buyer-{n}@example.com",
            "first_name": f"Buyer{n}",
            "accepts_marketing": True,
        },
        "order": {"id": str(n), "total": "45.90", "currency": "EUR"},
    }


@pytest.fixture(params=["redis", "rabbitmq"])
def outage(request: pytest.FixtureRequest) -> Iterator[RedisServer | TcpRelay]:
    """What the test takes away with `stop()` and brings back with `start()`: a redis-server
    of its own (killed: what it held is lost), or the way to this worker's RabbitMQ virtual
    host (a relay closed: every connection cut, the server and its queues kept)."""
    if request.param == "redis":
        with RedisServer() as server:
            yield server
        return
    with TcpRelay(request.getfixturevalue("rabbitmq_url")) as relay:
        yield relay


@pytest.fixture
def broker(outage: RedisServer | TcpRelay) -> Iterator[dramatiq.Broker]:
    made: dramatiq.Broker
    if isinstance(outage, RedisServer):
        made = RedisBroker(url=outage.url)  # type: ignore[no-untyped-call]
    else:
        made = broker_module.rabbitmq_broker(outage.url, timeout_s=2.0)
    with installed(made) as broker:
        broker.flush_all()
        yield broker
        outage.start()
        with contextlib.suppress(*broker_module.UNAVAILABLE):
            broker.flush_all()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    token = runtime.settings.ladder_api_token
    assert token is not None
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    with TestClient(create_app(runtime.settings), headers=headers) as client:
        yield client


def test_events_posted_while_the_broker_is_away_are_all_processed_once_it_is_back(
    runtime: Runtime,
    db: Session,
    outage: RedisServer | TcpRelay,
    broker: dramatiq.Broker,
    client: TestClient,
) -> None:
    current_time.freeze(T0)
    before = client.post("/events", json=order(0))
    assert before.status_code == 202, before.text
    assert client.get("/readyz").json()["broker"] == "ok"

    outage.stop()
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["broker"], ready.json()["database"]) == (
        503,
        "away",
        "ok",
    )
    assert ready.headers["Retry-After"]
    during = [client.post("/events", json=order(n)) for n in range(1, 6)]
    during.append(client.post("/events", json=[order(n) for n in range(6, 21)]))
    # The platform posting them gets its answer: stored, nothing to resend.
    assert [response.status_code for response in during] == [202] * 6
    assert sum(response.json()["stored"] for response in during) == 20
    # Committed, and left for the relay: the failed hand-off cleared `enqueued_at`.
    waiting = db.exec(select(Event).where(col(Event.enqueued_at).is_(None))).all()
    assert sorted(event.source_event_id for event in waiting) == sorted(
        f"order-{n}-placed" for n in range(1, 21)
    )

    outage.start()
    back = T0 + timedelta(seconds=5)
    assert clock.tick(db, now=back, runtime=runtime).events == 20
    drain(broker, ("events",))
    # The first event's message was in Redis when it went down, and is gone with it; its row
    # is still pending, and the relay sends it again once it has waited `requeue_after_s`.
    # RabbitMQ kept it (a persistent message on a durable queue): only the way to it was cut.
    lost = 1 if isinstance(outage, RedisServer) else 0
    later = back + timedelta(seconds=runtime.settings.requeue_after_s + 1)
    assert clock.tick(db, now=later, runtime=runtime).events == lost
    drain(broker, ("events",))
    assert clock.tick(db, now=later + timedelta(hours=1), runtime=runtime).events == 0

    db.expire_all()
    stored = db.exec(select(Event)).all()
    assert len(stored) == 21
    assert Counter(event.status for event in stored) == Counter({"processed": 21})
    customers = db.exec(select(Customer)).all()
    assert len(customers) == 21
    assert {customer.orders_count for customer in customers} == {1}
    thank_yous = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).all()
    # One thank-you each: no event was processed twice.
    assert len(thank_yous) == len(customers)
    assert {delivery.customer_id for delivery in thank_yous} == {c.id for c in customers}


# A Redis deployment runs on PostgreSQL; with SQLite the clock thread, the worker and the test
# would queue on its one writer lock. Redis only: a restarted RabbitMQ keeps its messages.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("outage", ["redis"], indirect=True)
def test_a_redis_restart_that_lost_the_queued_messages_is_noticed_and_they_are_sent_again(
    monkeypatch: pytest.MonkeyPatch,
    runtime: Runtime,
    db: Session,
    outage: RedisServer,
    broker: RedisBroker,
    client: TestClient,
) -> None:
    """A restarted Redis (no persistence, or a failover) is empty: the rows whose messages it
    held would wait the relay's `requeue_after_s` (five minutes) before anyone sent them."""
    assert runtime.settings.requeue_after_s >= 60
    ticking = Runtime(runtime.settings.model_copy(update={"clock_tick_s": 0.2}))
    looked = threading.Event()  # set once the clock has read the server's run id
    original = relays.RestartWatch.restarted

    def watching(self: relays.RestartWatch) -> bool:
        restarted = original(self)
        looked.set()
        return restarted

    monkeypatch.setattr(relays.RestartWatch, "restarted", watching)
    stop = threading.Event()
    clock_thread = threading.Thread(target=clock.run, args=(ticking, stop), daemon=True)
    clock_thread.start()  # it learns the server's run id before the restart
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    try:
        wait_until(looked.is_set, timeout_s=10, what="the clock to read Redis's run id")
        posted = client.post("/events", json=[order(n) for n in range(10)])
        assert posted.status_code == 202, posted.text
        outage.stop()
        outage.start()  # empty: the ten messages are gone
        worker.start()

        def processed() -> int:
            db.expire_all()
            rows = db.exec(select(Event).where(col(Event.status) == "processed")).all()
            db.commit()
            return len(rows)

        wait_until(lambda: processed() == 10, timeout_s=30, what="the ten events processed")
    finally:
        worker.stop()
        stop.set()
        clock_thread.join(timeout=10)
    customers = db.exec(select(Customer)).all()
    assert sorted(c.orders_count for c in customers) == [1] * 10  # each processed once
