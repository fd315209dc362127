"""A storm of provider errors: every email sent exactly once, none lost."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from dramatiq import Worker
from sqlalchemy import func, select, text
from sqlmodel import SQLModel, col

from models import Delivery, DeliveryStatus
from models.db import get_engine, session
from tests.support.deliveries import seed_due_deliveries, write_hello_message
from tests.support.sendgrid_standin import (
    API_KEY,
    Received,
    Reply,
    SendGridStandIn,
    accepted,
    rate_limited,
    running_standin,
)
from tests.support.waiting import wait_until
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.queue import relays
from worker.queue.actors import deliver

# ~850 requests, of them ~250 answered 500 and ~80 answered 429: every path of the storm taken
# hundreds of times. Each attempt costs the worker ~25 ms of CPU (claim, render, send, record),
# so the size is the test's time: 2,000 took 85-95 s of a 2-core machine.
DELIVERIES = 500
REQUEUE_AFTER = timedelta(seconds=300)  # the default: only retries due again are relayed


def _truncate(url: str) -> None:
    tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def storm_sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[SendGridStandIn]:
    """Answers 30 % 500, 10 % 429 (the limit resets this second), the rest 202."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    chance = random.Random(6)
    lock = threading.Lock()

    def answer(_request: Received) -> Reply:
        with lock:
            roll = chance.random()
        if roll < 0.30:
            return Reply(500, {}, b'{"errors": [{"message": "internal error"}]}')
        if roll < 0.40:
            return rate_limited(reset_in_s=0)
        return accepted()

    with running_standin() as standin:
        standin.answer = answer
        yield standin


@pytest.fixture(autouse=True)
def fresh_runtime() -> Iterator[None]:
    """The actors read settings through get_runtime(): rebuilt for this test, then dropped."""
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    yield
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()


def test_a_storm_of_500s_and_429s_sends_every_email_exactly_once(
    postgres_url: str,
    server_broker: dramatiq.Broker,
    storm_sendgrid: SendGridStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    triggers, templates = write_hello_message(tmp_path)
    for name, value in {
        "DATABASE_URL": postgres_url,
        "EMAIL_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_HOST": storm_sendgrid.url,
        "TRIGGERS_DIR": str(triggers),
        "TEMPLATES_DIR": str(templates),
        # Back-off in milliseconds, not seconds, and failures enough that no delivery runs out
        # while the test watches (0.3 ** 50: never); the rows carry it, the relay sends them.
        "DELIVERY_RETRY_MIN_S": "0.01",
        "DELIVERY_RETRY_MAX_S": "0.3",
        "DELIVERY_MAX_FAILURES": "50",
    }.items():
        monkeypatch.setenv(name, value)
    _truncate(postgres_url)
    with session(postgres_url) as db:
        ids = seed_due_deliveries(db, DELIVERIES, now=datetime.now(UTC))
    for delivery_id in ids:
        deliver.send(delivery_id)

    worker = Worker(server_broker, worker_threads=8, worker_timeout=100)
    worker.start()
    try:

        def all_sent() -> bool:
            relay(postgres_url)  # the clock's round: retries due again go back to the queue
            return sent_count(postgres_url) == DELIVERIES

        wait_until(
            all_sent,
            timeout_s=100,
            interval_s=0.2,
            what=f"{DELIVERIES} deliveries sent",
            on_timeout=lambda: f"states: {states(postgres_url)}",
        )
    finally:
        worker.stop()

    answers = Counter(request.status for request in storm_sendgrid.requests)
    assert answers[500] > 0.2 * len(storm_sendgrid.requests)  # the storm did blow
    assert answers[429] > 0.05 * len(storm_sendgrid.requests)
    assert storm_sendgrid.invalid == []
    per_delivery = Counter(storm_sendgrid.accepted_delivery_ids())
    assert sorted(int(i) for i in per_delivery) == ids  # none lost
    assert set(per_delivery.values()) == {1}  # none twice
    assert states(postgres_url) == {"sent": DELIVERIES}
    with session(postgres_url) as db:
        message_ids = db.scalars(select(col(Delivery.provider_message_id))).all()
    assert len(set(message_ids)) == DELIVERIES and all(message_ids)
    _truncate(postgres_url)


def relay(url: str) -> None:
    with session(url) as db:
        relays.relay_deliveries(db, now=datetime.now(UTC), requeue_after=REQUEUE_AFTER)


def sent_count(url: str) -> int:
    with session(url) as db:
        return int(
            db.scalar(select(func.count()).where(col(Delivery.status) == DeliveryStatus.SENT)) or 0
        )


def states(url: str) -> dict[str, int]:
    with session(url) as db:
        rows = db.execute(select(col(Delivery.status), func.count()).group_by(col(Delivery.status)))
        return {str(status): int(count) for status, count in rows}
