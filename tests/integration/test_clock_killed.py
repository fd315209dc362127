"""A clock killed inside a daily job: the job is not recorded done, and runs again that day."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, col, select

from models import Customer, Lease
from tests.integration.test_clock import record, signed_up
from tests.support.factories import order_event
from worker.queue import clock, leases
from worker.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)

# A clock's tick at T0 whose segment refresh is SIGKILLed after its statements ran and before
# they committed, as a kill -9 (or the machine going away) would stop it.
KILLED_TICK = """
import os, signal, sys
from datetime import datetime
from models.db import session
from worker.audience import segments
from worker.queue import clock
from worker.runtime import Runtime
from worker.settings import EmailBackend, Settings

def die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

segments.emit_moves = die  # the last step of the refresh, inside its transaction
url, outbox, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
runtime = Runtime(Settings(database_url=url, email_backend=EmailBackend.FILE, outbox_dir=outbox))
with session(url) as db:
    clock.tick(db, now=now, runtime=runtime)
"""


@pytest.mark.commits  # the killed clock works in a process of its own
def test_a_clock_killed_inside_the_segment_refresh_runs_it_again_the_same_day(
    db: Session,
    database_url: str,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the relay enqueues the thank-you on it)
    tmp_path: Path,
) -> None:
    record(db, runtime, order_event(event_id="ord-1", order_id="1", at=T0), now=T0)
    record(db, runtime, signed_up(1, T0), now=T0)
    db.commit()

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_TICK, database_url, str(tmp_path / "outbox"), T0.isoformat()],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -9, killed.stderr.decode(errors="replace")[-2000:]
    db.expire_all()
    assert db.exec(select(Customer).where(col(Customer.segment).is_not(None))).all() == []

    # The job stays taken for its lease, so a slow refresh is never run twice at once…
    soon = T0 + timedelta(minutes=1)
    assert clock.tick(db, now=soon, runtime=runtime).segments == {}
    # …and once that has run out, later the same day, the refresh the killed one left runs.
    later = T0 + leases.JOB_LEASE + timedelta(minutes=1)
    report = clock.tick(db, now=later, runtime=runtime)

    assert sum(report.segments.values()) == 2
    assert report.segments["prospect"] == 1
    db.expire_all()
    assert {c.email: c.segment for c in db.exec(select(Customer))}["new-1@example.com"] == (
        "prospect"
    )
    done = db.get_one(Lease, clock.SEGMENTS_JOB)
    assert (done.last_run_at, done.holder) == (later, None)
    # Done now: the rest of the day it does not run again.
    assert clock.tick(db, now=later + timedelta(hours=1), runtime=runtime).segments == {}
