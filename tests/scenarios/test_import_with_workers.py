"""`ladder import` with a worker fleet: the workers process the history, and the clock scores
the segments once they have, so a customer lapsing today gets their win-back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from dramatiq import Worker
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from models import Customer, Delivery, Event, Lease
from tests.integration.test_importing import history_order, summary, write_lines
from tests.support.waiting import wait_until
from worker.cli import app
from worker.queue import clock
from worker.runtime import Runtime

# The workers and the clock read and write on their own connections.
pytestmark = pytest.mark.commits


def pending_events(db: Session) -> int:
    db.expire_all()
    count = len(db.exec(select(Event.id).where(col(Event.status) == "pending")).all())
    db.commit()
    return count


def daily_refresh_done(db: Session) -> Callable[[], bool]:
    def done() -> bool:
        lease = db.get(Lease, clock.SEGMENTS_JOB)
        ran = lease is not None and lease.last_run_at is not None
        db.commit()
        return ran

    return done


def segment_refresh_asked(db: Session) -> bool:
    lease = db.get(Lease, clock.SEGMENTS_JOB)
    asked = lease is not None and lease.requested_at is not None
    db.commit()
    return asked


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_handed_to_the_workers_ends_with_segments_and_todays_waits(
    runtime: Runtime, server_broker: dramatiq.Broker, db: Session, tmp_path: Path
) -> None:
    """The fleet's import used to leave the segments to the next daily refresh, which had
    already run that day on the customers as they were before the history arrived."""
    now = datetime.now(UTC).replace(microsecond=0)
    champion_orders = [now - timedelta(days=5 + 30 * k) for k in range(24)][::-1]
    lines = [history_order("champ", n, at, "80.00") for n, at in enumerate(champion_orders)]
    lines += [history_order("once", 0, now - timedelta(days=300), "35.00")]
    path = write_lines(tmp_path / "history.jsonl", [json.dumps(line) for line in lines])
    ticking = Runtime(runtime.settings.model_copy(update={"clock_tick_s": 0.2}))
    stop = threading.Event()
    clock_thread = threading.Thread(target=clock.run, args=(ticking, stop), daemon=True)
    worker = Worker(server_broker, worker_threads=2, worker_timeout=100)
    clock_thread.start()  # its daily refresh runs now, before the history is there
    try:
        wait_until(daily_refresh_done(db), timeout_s=10, what="the clock's daily refresh")
        imported = CliRunner().invoke(app, ["import", str(path)])
        assert imported.exit_code == 0, imported.output
        assert summary(imported.output)["stored"] == 25
        assert "handed to the workers" in imported.output
        status = CliRunner().invoke(app, ["status"])
        said = " ".join(status.output.split())
        assert "segments.refresh asked for at" in said, status.output
        assert "runs once the 25 events received before then are processed" in said

        worker.start()
        wait_until(lambda: pending_events(db) == 0, timeout_s=60, what="the history processed")
        wait_until(lambda: not segment_refresh_asked(db), timeout_s=30, what="the segments scored")
        wait_until(lambda: pending_events(db) == 0, timeout_s=30, what="the segment moves")
    finally:
        worker.stop()
        stop.set()
        clock_thread.join(timeout=10)
    db.expire_all()
    customers = {c.email.split("@")[0]: c for c in db.exec(select(Customer)).all()}
    assert {name: c.orders_count for name, c in customers.items()} == {"champ": 24, "once": 1}
    assert all(c.segment for c in customers.values()), {n: c.segment for n, c in customers.items()}
    waiting = db.exec(
        select(Delivery).where(Delivery.trigger == "win-back", Delivery.status == "scheduled")
    ).all()
    assert [d.customer_id for d in waiting] == [customers["champ"].id]
    assert db.exec(select(Delivery).where(Delivery.status == "sent")).all() == []
    status = CliRunner().invoke(app, ["status"])
    assert "asked for at" not in status.output, status.output
