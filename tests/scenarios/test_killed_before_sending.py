"""A worker SIGKILLed between its claims and their requests to SendGrid: what it never handed
over is sent again, once; only what was in flight, or queued for a request thread, stays
"outcome unknown"."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from sqlalchemy import select, text
from sqlmodel import Session

from models import Delivery
from models.db import get_engine
from tests.scenarios.test_exactly_once import kill, schedule_thank_yous, statuses
from tests.support.sendgrid_standin import (
    API_KEY,
    Received,
    Reply,
    SendGridStandIn,
    accepted,
    running_standin,
)
from tests.support.waiting import wait_until
from worker.delivery.inflight import QUEUED_SHARE
from worker.delivery.recovery import OUTCOME_UNKNOWN
from worker.queue import clock, relays
from worker.runtime import Runtime
from worker.settings import EmailBackend, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# Eight batches of 100 for eight worker threads: each batch is claimed whole, and its claims are
# stamped as requested a wave at a time, just before the wave leaves. The stand-in holds every
# request once enough have gone: when the process's IN_FLIGHT request threads all wait for an
# answer that does not come, and its QUEUED more slots hold requests stamped and waiting for a
# thread, no other claim can be stamped, and the worker is killed with the rest of its batches
# claimed and not requested.
DELIVERIES = 800
THREADS = 8
IN_FLIGHT = 4  # the worker's DELIVERY_IN_FLIGHT: requests left unanswered when it dies
QUEUED = int(IN_FLIGHT * QUEUED_SHARE)  # stamped, queued for a request thread when it dies
# Short, so the clock gives up the dead worker's claims within seconds; not 5 s: on a loaded
# machine (this test on Redis and on RabbitMQ at once) a live request's answer came back more
# than 5 s after its stamp and was recorded "outcome unknown".
CLAIM_TIMEOUT_S = 10
REQUEUE_AFTER_S = 5


def settings_for(
    database_url: str,
    broker_url: str,
    standin: SendGridStandIn,
    *,
    requeue_after_s: float | None = REQUEUE_AFTER_S,  # None: the production default
) -> Settings:
    settings = Settings(
        database_url=database_url,
        broker_url=broker_url,
        email_backend=EmailBackend.SENDGRID,
        sendgrid_api_key=API_KEY,
        sendgrid_api_host=standin.url,
        claim_timeout_s=CLAIM_TIMEOUT_S,
        delivery_in_flight=IN_FLIGHT,
    )
    if requeue_after_s is None:
        return settings
    return settings.model_copy(update={"requeue_after_s": requeue_after_s})


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """The Procfile's worker against the stand-in, in its own session."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": str(settings.broker_url),
        "EMAIL_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_HOST": settings.sendgrid_api_host,
        "CLAIM_TIMEOUT_S": str(settings.claim_timeout_s),
        "REQUEUE_AFTER_S": str(settings.requeue_after_s),
        "DELIVERY_IN_FLIGHT": str(settings.delivery_in_flight),
        "SENDGRID_TIMEOUT_S": "30",  # a held request waits for the kill, not for a timeout
        "no_proxy": "127.0.0.1",
        "dramatiq_worker_timeout": "100",
    }
    command = [sys.executable, "-m", "dramatiq", "worker.queue.broker", "worker.queue.actors"]
    with log.open("ab") as output:
        return subprocess.Popen(
            [*command, "--processes", "1", "--threads", str(THREADS)],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def suppressions_locked(database_url: str) -> Iterator[None]:
    """Every read of the suppression list waits, as a delivery's `load` does right after its
    claim: the workers stop between claim and request, where a kill is the question here."""
    with get_engine(database_url).connect() as conn:
        conn.execute(text("LOCK TABLE suppressions IN ACCESS EXCLUSIVE MODE"))
        yield
        conn.rollback()


def waiting_for_the_lock(db: Session) -> int:
    """How many sessions wait for the suppression list (`suppressions_locked`)."""
    count = db.scalar(
        text(
            "SELECT count(*) FROM pg_locks"
            " WHERE relation = 'suppressions'::regclass AND NOT granted"
        )
    )
    db.rollback()
    return int(count or 0)


def requested_and_unanswered(db: Session) -> set[int]:
    """Deliveries whose request left and whose answer is not written."""
    db.expire_all()
    found = db.scalars(
        text("SELECT id FROM deliveries WHERE status = 'sending' AND requested_at IS NOT NULL")
    )
    ids = {int(i) for i in found if i is not None}
    db.rollback()
    return ids


def tail(log: Path) -> str:
    return "worker log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_between_claim_and_request_loses_nothing_and_sends_nothing_twice(
    database_url: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (the relay below enqueues on this broker)
    db: Session,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    held: list[str] = []  # delivery ids of the requests left unanswered
    lock = threading.Lock()

    def answer(request: Received) -> Reply:
        with lock:
            if holding.is_set() and len(held) < IN_FLIGHT:
                held.append(request.json()["custom_args"]["delivery_id"])
                return Reply(202, accepted().headers, hold=True)
        return accepted()

    holding = threading.Event()
    with running_standin() as standin:
        standin.answer = answer
        runtime = Runtime(settings_for(database_url, broker_url, standin))
        delivery_ids = schedule_thank_yous(db, DELIVERIES)
        relays.relay_deliveries(
            db, now=datetime.now(UTC), requeue_after=timedelta(seconds=REQUEUE_AFTER_S)
        )

        workers = [start_worker(runtime.settings, log)]
        try:
            wait_until(
                lambda: len(standin.accepted_delivery_ids()) >= 40,
                timeout_s=60,
                what="the first worker to send 40 emails",
                on_timeout=lambda: tail(log),
            )
            holding.set()
            # Every thread now waits for an answer that does not come, and the queue for them
            # is full: no claim can be stamped.
            wait_until(
                lambda: len(held) == IN_FLIGHT,
                timeout_s=30,
                what="every request thread held",
                on_timeout=lambda: f"{statuses(db)}\n{tail(log)}",
            )
            # The answers that came back are written within a moment, though their batches
            # wait for slots: only the held requests and those queued are left stamped.
            wait_until(
                lambda: len(requested_and_unanswered(db)) == IN_FLIGHT + QUEUED,
                timeout_s=10,
                what="every answer to be written",
                on_timeout=lambda: f"{sorted(requested_and_unanswered(db))} {held}",
            )
            in_flight = {int(delivery_id) for delivery_id in held}
            stamped = requested_and_unanswered(db)
            queued = stamped - in_flight
            assert in_flight <= stamped
            requests_at_kill = len(standin.requests)
            kill(workers[0])
            standin.release.set()  # the held answers go to a closed socket

            rows = {d.id: d for d in db.scalars(select(Delivery))}
            left = [row for row in rows.values() if row.status == "sending"]
            unrequested = {row.id for row in left if row.requested_at is None}
            assert {row.id for row in left if row.requested_at is not None} == stamped
            assert len(unrequested) > THREADS * 10  # each batch stopped with claims unsent
            assert len(standin.requests) == requests_at_kill  # nothing left after the kill

            workers.append(start_worker(runtime.settings, log))

            def settled() -> bool:
                clock.tick(db, now=datetime.now(UTC), runtime=runtime)
                counts = statuses(db)
                return counts["sent"] + counts["failed"] == DELIVERIES

            wait_until(
                settled,
                timeout_s=90,
                interval_s=0.2,
                what="every delivery to be sent or given up",
                on_timeout=lambda: f"{statuses(db)}\n{tail(log)}",
            )
        finally:
            for process in workers:
                kill(process)

        assert standin.invalid == []
        db.expire_all()
        final = {d.id: d for d in db.scalars(select(Delivery))}
        # Those in flight (SendGrid got each once) and those stamped and queued for a thread
        # (the worker cannot tell them apart): never resent, left for provider events to settle.
        for delivery_id in stamped:
            assert final[delivery_id].status == "failed"
            assert (final[delivery_id].reason or "").startswith(OUTCOME_UNKNOWN)
        # Everything else, the claims the kill stranded before their stamp among them: sent
        # exactly once (one 202 each, no other request), none lost.
        requested = Counter(int(r.json()["custom_args"]["delivery_id"]) for r in standin.requests)
        assert [d for d, n in requested.items() if n != 1] == []
        assert set(delivery_ids) - stamped <= set(requested)
        # Those stamped that never left were queued for a thread (on a slow machine a held
        # request may still time out, and its thread take one of them before the kill).
        assert stamped - set(requested) <= queued
        assert Counter(final[d].status for d in delivery_ids if d not in stamped) == Counter(
            {"sent": DELIVERIES - len(stamped)}
        )
        assert all(final[d].attempts == 2 for d in unrequested)
