"""The first of a resolved broadcast's deliveries streamed to the SendGrid stand-in: the clock's
relay hands the due ones to one worker process, which claims, checks, renders (the shipped
`whats_new` and `whats_new_b`) and sends each through the real client. Measured beside bare
Dramatiq's no-op actor on the same Redis in the same run (issue 18 item 2: "streams to the
provider stand-in at the pipeline's rate").

The run's rows keep their order: the `stream` earliest (the first zone's 10:00) are moved to
now, the rest stay where resolve put them, hours ahead. So the relay finds exactly those due,
as the clock does when the first zone's moment arrives, and the stand-in must have accepted
each once when the last is recorded sent.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import col

from bench.baseline import measure_noop
from bench.harness import (
    BenchError,
    cpu_seconds,
    cpu_spent,
    dramatiq_worker,
    refuse_busy_redis,
    wait_until,
    worker_child,
)
from bench.report import Measurement
from models import Delivery, DeliveryStatus
from models.db import session
from tests.support.sendgrid_standin import API_KEY, running_standin
from worker.settings import PROJECT_ROOT

POLL_S = 0.05
WARMUP_EMAILS = 50


@dataclass(frozen=True)
class Streamed:
    emails: Measurement  # relay → worker → stand-in, until the last is recorded sent
    bare: Measurement  # bare Dramatiq, the same number of no-op messages, same Redis
    relay_s: float  # the clock's relay alone: marking the due rows enqueued and sending ids
    accepted: int  # requests the stand-in answered 202, the warm-up's included
    expected: int  # deliveries recorded sent, the warm-up's included


def _worker_env(database_url: str, redis_url: str, standin_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EMAIL_BACKEND="sendgrid",
        SEND_WINDOW="",  # quiet hours were applied when the run was resolved for 10:00 local
        SENDGRID_API_KEY=API_KEY,
        SENDGRID_API_HOST=standin_url,
        TRIGGERS_DIR=str(PROJECT_ROOT / "triggers"),
        TEMPLATES_DIR=str(PROJECT_ROOT / "templates"),
        LADDER_SECRET_KEY=secrets.token_urlsafe(32),
        LADDER_API_TOKEN=secrets.token_urlsafe(24),
        no_proxy="127.0.0.1",
    )
    return env


def _bring_due(database_url: str, stream: int, now: datetime) -> int:
    """Moves the run's `stream` earliest deliveries (by send time, then id) to `now`."""
    with session(database_url) as db:
        moved = db.execute(
            text("""
            UPDATE deliveries SET send_at = :now
            WHERE id IN (SELECT id FROM deliveries WHERE status = 'scheduled'
                         ORDER BY send_at, id LIMIT :n)"""),
            {"now": now.replace(tzinfo=None), "n": stream},
        )
        db.commit()
    return int(moved.rowcount)  # type: ignore[attr-defined]


def _sent(database_url: str) -> int:
    with session(database_url) as db:
        count = db.scalar(select(func.count()).where(col(Delivery.status) == DeliveryStatus.SENT))
        return int(count or 0)


def relay(database_url: str, count: int) -> None:
    """The next `count` deliveries of the run come due now, and the clock's relay sends them."""
    from worker.queue import relays

    now = datetime.now(UTC)
    if _bring_due(database_url, count, now) != count:
        raise BenchError(f"the run has fewer than {count:,} scheduled deliveries left")
    with session(database_url) as db:
        relayed = relays.relay_deliveries(db, now=now, requeue_after=timedelta(minutes=5))
    if relayed != count:
        raise BenchError(f"the relay sent {relayed:,} ids, not {count:,}")


def stream(database_url: str, redis_url: str, *, emails: int, threads: int) -> Streamed:
    refuse_busy_redis(redis_url)
    with (
        tempfile.TemporaryDirectory(prefix="ladder-bench-stream-") as tmp,
        running_standin(validate=False) as standin,
    ):
        workdir = Path(tmp)
        env = _worker_env(database_url, redis_url, standin.url)
        os.environ.update(env)  # this process relays as the clock does: the same settings
        bare = measure_noop(
            redis_url=redis_url, messages=emails, threads=threads, env=env, workdir=workdir
        )
        from dramatiq.brokers.redis import RedisBroker

        from worker.queue import broker as broker_module

        broker_module.install(RedisBroker(url=redis_url))  # type: ignore[no-untyped-call]
        log = workdir / "stream-worker.log"
        with dramatiq_worker(
            ["worker.queue.broker", "worker.queue.actors"], threads=threads, env=env, log=log
        ) as proc:
            relay(database_url, WARMUP_EMAILS)  # the worker has started, imported, connected
            wait_until(
                lambda: _sent(database_url) == WARMUP_EMAILS, timeout_s=120, interval_s=POLL_S,
                process=proc, log=log, what="warming up",
            )  # fmt: skip
            child = worker_child(proc)
            cpu_before = cpu_seconds(child)
            started = time.monotonic()
            relay(database_url, emails)
            relay_s = time.monotonic() - started
            finished = wait_until(
                lambda: _sent(database_url) == WARMUP_EMAILS + emails,
                timeout_s=max(120.0, emails / 20),
                interval_s=POLL_S,
                process=proc,
                log=log,
                what=f"streaming {emails:,} emails",
            )
            cpu_used = cpu_spent(cpu_before, cpu_seconds(child))
        accepted = len(standin.accepted_delivery_ids())
    measured = Measurement(
        "Ladder: broadcast → stand-in", "emails", emails, finished - started,
        cpu_used,
    )  # fmt: skip
    return Streamed(measured, bare, relay_s, accepted, WARMUP_EMAILS + emails)
