"""A broadcast under fire: two clocks resolve its run at the same moment and the worker sending
it is SIGKILLed halfway; every customer of the audience still gets it exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from models import BroadcastRun, Customer, Delivery, Event
from models.db import session
from tests.scenarios.test_exactly_once import kill, settings_for, start_worker, statuses, tail
from tests.support.waiting import wait_until
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling import broadcasts

CUSTOMERS = 600


def add_customers(db: Session, count: int, *, now: datetime) -> None:
    """`count` customers with consent, and a tenth without (held back, never sent)."""
    rows = [
        {
            "email": f"reader-{n}@example.com",
            "first_name": f"Reader{n}",
            "locale": ("en", "de", "es", "ru", "zh")[n % 5],
            "accepts_marketing": True,
            "created_at": now - timedelta(days=30),
        }
        for n in range(count)
    ]
    rows += [
        {**row, "email": f"quiet-{n}@example.com", "accepts_marketing": False}
        for n, row in enumerate(rows[: count // 10])
    ]
    db.execute(insert(Customer), rows)
    db.commit()


def broadcast_file(folder: Path, *, now: datetime) -> None:
    """The shipped what's-new letter, due two minutes ago at one moment for everyone."""
    folder.mkdir()
    due = now - timedelta(minutes=2)
    (folder / "news.toml").write_text(
        f'name = "news"\nmessage = "whats_new"\naudience = "true"\nzone = "UTC"\n'
        f'date = {due:%Y-%m-%d}\nat = "{due:%H:%M}"\n'
        '[[variants]]\nname = "plain"\nshare = 0.5\n'
        '[[variants]]\nname = "personal"\nshare = 0.5\nmessage = "whats_new_b"\n'
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_clocks_and_a_killed_worker_during_a_broadcast_send_each_customer_one_email(
    database_url: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (the clock below enqueues on this broker)
    db: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    outbox, log, folder = tmp_path / "outbox", tmp_path / "worker.log", tmp_path / "broadcasts"
    broadcast_file(folder, now=now)
    monkeypatch.setenv("BROADCASTS_DIR", str(folder))  # the worker processes read it too
    settings = settings_for(database_url, broker_url, outbox)
    runtime = Runtime(settings.model_copy(update={"broadcasts_dir": folder}))
    add_customers(db, CUSTOMERS, now=now)
    broadcasts.schedule(db, runtime.broadcasts["news"], now=now, settings=runtime.settings)

    # Two clocks tick at the same moment, each in its own session (no leader lease between).
    start = threading.Barrier(2)
    resolved: list[int] = []

    def second_clock() -> None:
        with session(database_url) as other:
            start.wait()
            resolved.append(clock.resolve_broadcasts(other, now=now, runtime=runtime))

    threads = [threading.Thread(target=second_clock) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(resolved) == [0, CUSTOMERS]  # one clock resolved it, the other found it taken

    workers = [start_worker(runtime.settings, log)]
    try:
        clock.tick(db, now=datetime.now(UTC), runtime=runtime)
        wait_until(
            lambda: len(list(outbox.glob("*.eml"))) >= 100,
            timeout_s=60,
            what="the first worker to send 100 emails",
            on_timeout=lambda: tail(log),
        )
        kill(workers[0])
        at_kill = statuses(db)
        assert at_kill["sent"] < CUSTOMERS, at_kill  # killed mid-run
        workers.append(start_worker(runtime.settings, log))

        def everything_sent() -> bool:
            clock.tick(db, now=datetime.now(UTC), runtime=runtime)
            return statuses(db)["sent"] == CUSTOMERS

        wait_until(
            everything_sent,
            timeout_s=90,
            interval_s=0.2,
            what="every delivery of the broadcast to be sent",
            on_timeout=lambda: f"{statuses(db)}\n{tail(log)}",
        )
    finally:
        for process in workers:
            kill(process)

    assert statuses(db) == Counter({"sent": CUSTOMERS, "skipped": CUSTOMERS // 10})
    recipients = Counter(
        line.removeprefix("To: ").strip()
        for path in outbox.glob("*.eml")
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.startswith("To: ")
    )
    assert len(recipients) == CUSTOMERS
    assert set(recipients.values()) == {1}
    assert all(address.startswith("reader-") for address in recipients)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Event)) == 1  # the run's one cause
    [run] = db.scalars(select(BroadcastRun)).all()
    assert (run.status, run.reached) == ("resolved", CUSTOMERS)
    variants = Counter(db.scalars(select(col(Delivery.ab_variant))).all())
    assert set(variants) == {"plain", "personal"}
