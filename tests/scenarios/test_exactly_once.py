"""A worker killed in the middle of a run costs a delay, never a lost or a second email."""

from __future__ import annotations

import contextlib
import email
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from models import Customer, Delivery, DeliveryStatus, Event, EventStatus, Order
from models.tables import ORDER_LINES
from tests.support.deliveries import eml_name
from tests.support.factories import order_event
from tests.support.waiting import wait_until
from worker.queue import clock, relays
from worker.runtime import Runtime
from worker.settings import EmailBackend, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 1000
CLAIM_TIMEOUT_S = 2
# Small, so the relay re-enqueues what the killed worker had taken off the queue within
# seconds; not 1 s, which would re-enqueue the whole backlog every second while it drains.
REQUEUE_AFTER_S = 5
WORKER_OPTIONS = ("--processes", "1", "--threads", "8")


def settings_for(database_url: str, broker_url: str, outbox: Path) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        email_backend=EmailBackend.FILE,
        outbox_dir=outbox,
        claim_timeout_s=CLAIM_TIMEOUT_S,
        requeue_after_s=REQUEUE_AFTER_S,
    )


def insert_returning_ids(
    db: Session, model: Any, rows: list[dict[str, Any]], key: str
) -> dict[Any, int]:
    """Inserts `rows` in one statement; returns each new row's id by its `key` column."""
    table = model.__table__
    inserted = db.execute(insert(table).values(rows).returning(table.c.id, table.c[key]))
    return {row_key: row_id for row_id, row_key in inserted}


def schedule_thank_yous(db: Session, count: int) -> list[int]:
    """`count` first-time buyers, each with the thank-you for their order due an hour ago.

    The rows are written as `process` leaves them, in a few statements: running `process`
    for each costs ~13 ms of CPU (1,000 would double this test's time), and the pipeline
    test already covers that path.
    """
    placed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    orders = [
        order_event(
            event_id=f"order-{n}-placed",
            order_id=str(n),
            at=placed,
            email=f"customer-{n}@example.com",
            first_name=f"Customer{n}",
        )
        for n in range(count)
    ]
    customer_ids = insert_returning_ids(
        db,
        Customer,
        [
            {
                "email": item.customer.email,
                "first_name": item.customer.first_name,
                "locale": "en",
                "accepts_marketing": True,
                "consent_changed_at": placed,
                "created_at": placed,
                "currency": "EUR",
                "orders_count": 1,
                "total_spent": 4590,
                "average_order_value": 4590,
                "first_order_at": placed,
                "last_order_at": placed,
            }
            for item in orders
        ],
        "email",
    )
    order_ids = insert_returning_ids(
        db,
        Order,
        [
            {
                "source": "api",
                "source_order_id": item.order.id,  # type: ignore[union-attr]
                "customer_id": customer_ids[item.customer.email],
                "status": "placed",
                "total": 4590,
                "currency": "EUR",
                "shop_total": 4590,
                "placed_at": placed,
            }
            for item in orders
        ],
        "source_order_id",
    )
    db.execute(
        insert(ORDER_LINES),
        [
            {"order_id": order_id, "title": "Green tea", "quantity": 1, "price": 4590}
            for order_id in order_ids.values()
        ],
    )
    event_ids = insert_returning_ids(
        db,
        Event,
        [
            {
                "source": "api",
                "source_event_id": item.id,
                "type": item.type,
                "customer_id": customer_ids[item.customer.email],
                "order_id": order_ids[item.order.id],  # type: ignore[union-attr]
                "occurred_at": placed,
                "received_at": placed,
                "payload": item.model_dump(mode="json", exclude_none=True),
                "status": EventStatus.PROCESSED.value,
                "attempts": 0,
            }
            for item in orders
        ],
        "source_event_id",
    )
    delivery_ids = insert_returning_ids(
        db,
        Delivery,
        [
            {
                "dedupe_key": f"thank-you:{event_ids[item.id]}",
                "trigger": "thank-you",
                "message": "thank_you",
                "customer_id": customer_ids[item.customer.email],
                "cause_event_id": event_ids[item.id],
                "status": DeliveryStatus.SCHEDULED.value,
                "send_at": placed + timedelta(hours=2),
                "created_at": placed,
                "attempts": 0,
            }
            for item in orders
        ],
        "dedupe_key",
    )
    db.commit()
    return sorted(delivery_ids.values())


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`dramatiq worker.queue.broker worker.queue.actors` as the Procfile runs it, in its own
    session."""
    secret = settings.ladder_secret_key
    token = settings.ladder_api_token
    assert secret is not None and token is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": str(settings.broker_url),
        "EMAIL_BACKEND": "file",
        "OUTBOX_DIR": str(settings.outbox_dir),
        "LADDER_SECRET_KEY": secret.get_secret_value(),
        "LADDER_API_TOKEN": token.get_secret_value(),
        "CLAIM_TIMEOUT_S": str(CLAIM_TIMEOUT_S),
        "REQUEUE_AFTER_S": str(REQUEUE_AFTER_S),
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "worker.queue.broker",
                "worker.queue.actors",
                *WORKER_OPTIONS,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the worker's whole process group: the parent and its worker process."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def statuses(db: Session) -> Counter[str]:
    db.expire_all()
    column = col(Delivery.status)
    rows = db.execute(select(column, func.count()).group_by(column)).all()
    return Counter({str(status): int(count) for status, count in rows})


def tail(log: Path) -> str:
    return "worker log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_in_the_middle_of_1000_deliveries_then_replaced_sends_each_exactly_once(
    database_url: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (the relay below enqueues on this broker)
    db: Session,
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox"
    log = tmp_path / "worker.log"
    runtime = Runtime(settings_for(database_url, broker_url, outbox))
    delivery_ids = schedule_thank_yous(db, CUSTOMERS)

    enqueued = relays.relay_deliveries(
        db, now=datetime.now(UTC), requeue_after=timedelta(seconds=REQUEUE_AFTER_S)
    )
    assert enqueued == CUSTOMERS

    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(start_worker(runtime.settings, log))
        wait_until(
            lambda: len(list(outbox.glob("*.eml"))) >= 100,
            timeout_s=30,
            what="the first worker to send 100 emails",
            on_timeout=lambda: tail(log),
        )
        kill(workers[0])
        at_kill = statuses(db)
        files_at_kill = len(list(outbox.glob("*.eml")))

        # The kill really happened mid-run: work was left claimed or not yet started.
        assert at_kill["sent"] < CUSTOMERS, at_kill
        assert at_kill["sending"] + at_kill["scheduled"] > 0, at_kill
        assert 100 <= files_at_kill < CUSTOMERS

        workers.append(start_worker(runtime.settings, log))

        def everything_sent() -> bool:
            clock.tick(db, now=datetime.now(UTC), runtime=runtime)
            return statuses(db)["sent"] == CUSTOMERS

        wait_until(
            everything_sent,
            timeout_s=75,
            interval_s=0.2,
            what="every delivery to be sent",
            on_timeout=lambda: f"{statuses(db)}\n{tail(log)}",
        )
    finally:
        for process in workers:
            kill(process)

    assert statuses(db) == Counter({"sent": CUSTOMERS})
    files = sorted(outbox.glob("*.eml"))
    assert [path.name for path in files] == [eml_name(db, n) for n in sorted(delivery_ids)]

    rows = {
        delivery.id: (delivery, customer)
        for delivery, customer in db.execute(
            select(Delivery, Customer).join(Customer, col(Customer.id) == Delivery.customer_id)
        )
    }
    message_ids = []
    for path in files:
        delivery, customer = rows[int(path.stem.partition("-")[0])]
        message = email.message_from_bytes(path.read_bytes())
        assert message["To"] == customer.email
        assert message["Subject"] == f"Thank you for your first order, {customer.first_name}"
        assert delivery.provider_message_id == f"file:{path.name}"
        message_ids.append(message["Message-ID"])
    assert len(set(message_ids)) == CUSTOMERS
