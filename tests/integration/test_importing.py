"""`ladder import`: stores events from a JSON-lines file, resumably, in constant memory."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from rich.console import Console
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from models import Customer, Delivery, Event
from worker.canonical import CanonicalEvent
from worker.cli import app
from worker.cli.importing import import_file
from worker.queue.dispatch import ingest
from worker.runtime import Runtime

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)

# `ladder import` streams: its memory is set by one batch, not by the file. Measured on SQLite
# with the default batch of 1,000, the process's peak RSS was 93 MB for 1,000 lines, 96 MB for
# 20,000 and 97 MB for 50,000, while 20,000 parsed events held at once take ~88 MB (~4.4 kB
# each, tracemalloc). The peak is the process's own high-water mark (VmHWM), not tracemalloc's:
# tracing every allocation slowed the import ~6x (30 s for 10,000 lines on a 2-CPU machine).
SMALL_FILE = 1_000
LARGE_FILE = 20_000
GROWTH_BOUND_BYTES = 20_000_000


def order(n: int) -> dict[str, Any]:
    return {
        "source": "shop",
        "id": f"ord-{n}-placed",
        "type": "order.placed",
        "occurred_at": T0.isoformat(),
        "customer": {
            "id": f"c-{n % 5000}",
            "email": f"customer-{n % 5000}@example.com",
            "first_name": "Ana",
            "locale": "es",
            "accepts_marketing": True,
        },
        "order": {
            "id": str(n),
            "total": "45.90",
            "currency": "EUR",
            "lines": [
                {
                    "product_id": "p-9",
                    "title": "Té verde",
                    "category": "tea",
                    "quantity": 2,
                    "price": "22.95",
                }
            ],
        },
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def table_rows(output: str) -> list[list[str]]:
    """The cells of every row rich drew in `output`, header rows included."""
    return [
        [cell.strip() for cell in line.strip().strip("│┃").split("│" if "│" in line else "┃")]
        for line in output.splitlines()
        if line.strip().startswith(("│", "┃"))
    ]


def summary(output: str) -> dict[str, int]:
    """The `Imported <file>` table as {column: number}."""
    rows = table_rows(output)
    header = rows.index(["lines", "stored", "duplicates", "invalid"])
    return dict(zip(rows[header], (int(cell) for cell in rows[header + 1]), strict=True))


def invalid_lines(output: str) -> list[tuple[int, str]]:
    """The (line, field) of each row of the `Invalid lines` table; wrapped text is skipped."""
    rows = table_rows(output)
    header = rows.index(["line", "field", "error"])
    return [(int(row[0]), row[1]) for row in rows[header + 1 :] if row[0]]


def stored_ids(db: Session) -> list[str]:
    """The imported events (not those Ladder made of them, such as segment moves)."""
    db.expire_all()
    imported = select(Event).where(Event.source == "shop")
    ids = sorted(event.source_event_id for event in db.exec(imported).all())
    db.rollback()  # End the read: on SQLite every transaction holds the write lock.
    return ids


@pytest.fixture
def runner(runtime: Runtime, stub_broker: StubBroker) -> CliRunner:  # noqa: ARG001
    """`ladder` as an operator runs it, on this test's database (DATABASE_URL)."""
    return CliRunner()


def test_import_stores_the_valid_lines_and_names_each_invalid_one_by_line_number(
    runner: CliRunner, db: Session, tmp_path: Path
) -> None:
    bad_email = order(4)
    bad_email["customer"]["email"] = "not-an-address"
    bad_total = order(6)
    bad_total["order"]["total"] = "lots"
    bad_total["order"]["currency"] = "euro"
    path = write_lines(
        tmp_path / "events.jsonl",
        [
            json.dumps(order(1)),
            json.dumps(order(2)),
            "{not json",
            json.dumps(bad_email),
            "",
            json.dumps(bad_total),
            json.dumps(order(7)),
        ],
    )

    result = runner.invoke(app, ["import", str(path)])

    assert result.exit_code == 1, result.output
    assert summary(result.output) == {"lines": 7, "stored": 3, "duplicates": 0, "invalid": 3}
    assert invalid_lines(result.output) == [
        (3, "(line)"),
        (4, "customer.email"),
        (6, "order.total"),
        (6, "order.currency"),
    ]
    assert stored_ids(db) == ["ord-1-placed", "ord-2-placed", "ord-7-placed"]


def test_running_the_same_import_again_stores_nothing_new(
    runner: CliRunner, db: Session, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "events.jsonl", [json.dumps(order(n)) for n in range(25)])

    first = runner.invoke(app, ["import", str(path), "--batch-size", "10"])
    again = runner.invoke(app, ["import", str(path), "--batch-size", "10"])

    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    assert summary(first.output) == {"lines": 25, "stored": 25, "duplicates": 0, "invalid": 0}
    assert summary(again.output) == {"lines": 25, "stored": 0, "duplicates": 25, "invalid": 0}
    assert stored_ids(db) == sorted(f"ord-{n}-placed" for n in range(25))


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C in the middle of an import."""


def test_an_interrupted_import_resumes_where_it_stopped_when_run_again(
    runtime: Runtime,  # noqa: ARG001  (DATABASE_URL for the importer)
    stub_broker: StubBroker,  # noqa: ARG001
    db: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_lines(tmp_path / "events.jsonl", [json.dumps(order(n)) for n in range(50)])
    quiet = Console(file=io.StringIO())
    calls = 0

    def ingest_then_crash(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Interrupted
        return ingest(*args, **kwargs)

    monkeypatch.setattr("worker.queue.dispatch.ingest", ingest_then_crash)
    with pytest.raises(Interrupted):
        import_file(path, batch_size=10, console=quiet)
    assert stored_ids(db) == sorted(f"ord-{n}-placed" for n in range(20))

    monkeypatch.setattr("worker.queue.dispatch.ingest", ingest)
    resumed = import_file(path, batch_size=10, console=quiet)

    assert (resumed.stored, resumed.duplicates, resumed.invalid_count) == (30, 20, 0)
    assert stored_ids(db) == sorted(f"ord-{n}-placed" for n in range(50))


def bytes_to_hold_parsed(lines: list[str]) -> int:
    """What keeping every parsed event of `lines` in memory at once would take."""
    tracemalloc.start()
    try:
        held = [CanonicalEvent.model_validate(json.loads(line)) for line in lines]
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(held) == len(lines)
    return size


# Runs `ladder import`; as it exits, the process writes its peak resident memory to stderr.
LADDER_REPORTING_PEAK = """
import atexit, sys
def report_peak():
    with open("/proc/self/status") as status:
        sys.stderr.write(next(line for line in status if line.startswith("VmHWM")))
atexit.register(report_peak)
from worker.cli import app
app()
"""


def ladder_import(path: Path) -> tuple[str, int]:
    """`ladder import <path>` in a process of its own: its output and its peak RSS in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", LADDER_REPORTING_PEAK, "import", str(path)],
        cwd=path.parent,  # no developer's .env
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    peak = re.search(r"^VmHWM:\s+(\d+) kB$", done.stderr, re.MULTILINE)
    assert peak is not None, done.stderr
    return done.stdout, int(peak.group(1)) * 1024


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_large_import_takes_no_more_memory_than_a_small_one(
    runtime: Runtime,  # noqa: ARG001  (DATABASE_URL, inherited by the `ladder` process)
    db: Session,
    tmp_path: Path,
) -> None:
    small = [json.dumps(order(n)) for n in range(SMALL_FILE)]
    large = [json.dumps(order(n)) for n in range(SMALL_FILE, SMALL_FILE + LARGE_FILE)]
    # What the large file would take if the importer held it: measured on a tenth, scaled.
    holding = bytes_to_hold_parsed(large[: LARGE_FILE // 10]) * 10

    small_output, small_peak = ladder_import(write_lines(tmp_path / "small.jsonl", small))
    large_output, large_peak = ladder_import(write_lines(tmp_path / "large.jsonl", large))

    assert summary(small_output)["stored"] == SMALL_FILE
    assert summary(large_output)["stored"] == LARGE_FILE
    assert len(stored_ids(db)) == SMALL_FILE + LARGE_FILE
    growth = large_peak - small_peak
    assert holding > 3 * GROWTH_BOUND_BYTES, f"holding the file: {holding / 1e6:.0f} MB"
    assert growth < GROWTH_BOUND_BYTES, (
        f"peak {small_peak / 1e6:.0f} MB for {SMALL_FILE} lines, {large_peak / 1e6:.0f} MB for"
        f" {LARGE_FILE}; holding them would take {holding / 1e6:.0f} MB"
    )


def test_import_refuses_an_unknown_event_type_as_post_events_does(
    runner: CliRunner, db: Session, tmp_path: Path
) -> None:
    custom = {**order(2), "type": "custom.gift_card.redeemed", "order": None}
    path = write_lines(
        tmp_path / "events.jsonl",
        [json.dumps({**order(1), "type": "order.placd"}), json.dumps(custom)],
    )

    result = runner.invoke(app, ["import", str(path)])

    assert result.exit_code == 1, result.output
    assert invalid_lines(result.output) == [(1, "type")]
    assert stored_ids(db) == ["ord-2-placed"]


def history_order(customer: str, n: int, at: datetime, total: str) -> dict[str, Any]:
    return {
        "source": "shop",
        "id": f"{customer}-ord-{n}",
        "type": "order.placed",
        "occurred_at": at.isoformat(),
        "customer": {"id": customer, "email": f"{customer}@example.com", "locale": "en",
                     "first_name": customer.title(), "accepts_marketing": True},
        "order": {"id": f"{customer}-{n}", "total": total, "currency": "EUR", "placed_at":
                  at.isoformat()},
    }  # fmt: skip


@pytest.mark.commits  # `ladder import` runs in its own process, on its own connections
def test_importing_a_history_with_no_workers_leaves_facts_segments_and_todays_waits(
    database_url: str, db: Session, tmp_path: Path
) -> None:
    """`ladder import` then nothing else gave every customer zero orders (the events waited
    for a worker), and no imported customer ever got a win-back."""
    now = datetime.now(UTC).replace(microsecond=0)
    lines = []
    # A champion: an order every 30 days for two years, the last five days before go-live.
    champion_orders = [now - timedelta(days=5 + 30 * k) for k in range(24)][::-1]
    lines += [history_order("champ", n, at, "80.00") for n, at in enumerate(champion_orders)]
    # Lapsed long ago: their win-back's moment passed before go-live.
    lines += [history_order("gone", n, now - timedelta(days=400 - 40 * n), "20.00")
              for n in range(3)]  # fmt: skip
    lines += [history_order("once", 0, now - timedelta(days=300), "35.00")]
    path = write_lines(tmp_path / "history.jsonl", [json.dumps(line) for line in lines])
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REDIS_URL", None)  # the embedded default: no workers
    env.pop("BROKER_URL", None)

    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", "import", str(path)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    # The 28 lines, and the 4 moves on the ladder their orders made (rung.up, rung.down).
    assert re.search(r"Processed 32 events in [\d.]+ s \([\d,]+ events/s", done.stdout), done.stdout
    db.expire_all()
    customers = {c.email.split("@")[0]: c for c in db.exec(select(Customer)).all()}
    assert {name: c.orders_count for name, c in customers.items()} == {
        "champ": 24, "gone": 3, "once": 1,
    }  # fmt: skip
    assert customers["champ"].total_spent == 24 * 8000
    assert customers["champ"].last_order_at == champion_orders[-1]
    assert all(c.segment for c in customers.values()), {n: c.segment for n, c in customers.items()}
    assert {name: c.rung for name, c in customers.items()} == {
        "champ": "champion", "gone": "at_risk", "once": "lapsing",
    }  # fmt: skip
    moves = db.exec(select(Event).where(col(Event.type).in_(["rung.up", "rung.down"]))).all()
    assert len(moves) == 4
    assert db.exec(select(Event).where(Event.status == "pending")).all() == []
    deliveries = db.exec(select(Delivery).where(Delivery.trigger == "win-back")).all()
    waiting = [d for d in deliveries if d.status == "scheduled"]
    # The champion's win-back, due twice their usual gap after the last order: in 55 days.
    assert [d.customer_id for d in waiting] == [customers["champ"].id]
    assert waiting[0].send_at is not None and waiting[0].send_at > now + timedelta(days=50)
    # Nothing from the old history went out: its moments had passed.
    assert db.exec(select(Delivery).where(Delivery.status == "sent")).all() == []
    assert not list(Path(os.environ.get("OUTBOX_DIR", tmp_path / "none")).glob("*.eml"))
