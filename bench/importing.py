"""`ladder import` of two years of a shop's history, followed by nothing else, on the embedded
default (SQLite, no workers) and on PostgreSQL: its events/s, beside a bare insert of the same
lines in the same run, and a check that it left exact facts, segments from the final facts and
the waits of the customers lapsing today.

    python -m bench.importing [--customers 4000] [--seed 7]

The history is generated: customers with a pace of their own (a week to half a year between
orders), some of whom stopped buying; a tenth of the orders partly refunded later; a few told
twice (the import's `order.placed` and an `order.paid` under another event id), which must count
once. Exits 1 when anything it checks is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlmodel import Session, select

from bench.harness import BenchError, bench_services
from models import Customer, Delivery, migrate
from models.db import get_engine
from worker.audience import segments
from worker.scheduling.local_time import relative_wait, usual_gap
from worker.settings import PROJECT_ROOT

YEARS = 2
# The win-back trigger (triggers/win_back.toml): twice the usual gap, within 30 to 120 days,
# 60 days after a first order. Its moment is the next 10:00 local after the wait (up to a day
# later), and a moment missed by less than a day is still sent (`matching.LATE_LIMIT`): a wait
# that ended within three days before go-live, or ends within a day after, may go either way,
# so those customers are left out of the check.
FACTOR, FLOOR, CEILING = 2.0, timedelta(days=30), timedelta(days=120)
FIRST_WAIT = timedelta(days=60)
STILL_SENT = timedelta(days=3)
MARGIN = timedelta(days=1)


@dataclass
class Expected:
    """One customer's facts, as the history says they must end."""

    orders: list[tuple[datetime, int]] = field(default_factory=list)  # (placed, net cents)

    @property
    def win_back_due(self) -> datetime:
        first, last = self.orders[0][0], self.orders[-1][0]
        gap = usual_gap(len(self.orders), first, last)
        wait = relative_wait(gap, factor=FACTOR, floor=FLOOR, ceiling=CEILING, fallback=FIRST_WAIT)
        return last + wait


def history(customers: int, seed: int, now: datetime) -> tuple[list[str], dict[str, Expected]]:
    """The history's JSON lines, oldest first, and what each customer's facts must be."""
    rng = random.Random(seed)
    start = now - timedelta(days=365 * YEARS)
    timed: list[tuple[datetime, dict[str, Any]]] = []
    expected: dict[str, Expected] = {}
    for c in range(customers):
        email = f"customer-{c}@example.com"
        pace = timedelta(days=rng.uniform(7, 180))
        stops = now - timedelta(days=rng.uniform(0, 500)) if rng.random() < 0.4 else now
        at = start + timedelta(days=rng.uniform(0, 600))
        n = 0
        while at < stops and at < now - timedelta(hours=1):
            cents = rng.randrange(1_500, 25_000)
            refunded = cents // 5 if rng.random() < 0.1 else 0
            order = {"id": f"{c}-{n}", "total": f"{cents / 100:.2f}", "currency": "EUR"}
            customer = {"id": f"c-{c}", "email": email, "locale": "en", "accepts_marketing": True}
            placed = {"id": f"{c}-{n}-placed", "type": "order.placed", "customer": customer}
            timed.append((at, {**placed, "order": {**order, "placed_at": at.isoformat()}}))
            if rng.random() < 0.03:  # the same order again, as its payment
                paid_at = at + timedelta(minutes=3)
                paid = {"id": f"{c}-{n}-paid", "type": "order.paid", "customer": customer}
                timed.append((paid_at, {**paid, "order": {**order, "placed_at": at.isoformat()}}))
            refund_at = at + timedelta(days=7)
            if refunded and refund_at < now:
                refund = {"id": f"r-{c}-{n}", "amount": f"{refunded / 100:.2f}"}
                told = {"id": f"{c}-{n}-refund", "type": "order.refunded", "customer": customer}
                timed.append((refund_at, {**told, "order": {**order, "refund": refund}}))
            else:
                refunded = 0
            expected.setdefault(email, Expected()).orders.append((at, cents - refunded))
            at += pace * rng.uniform(0.5, 1.5)
            n += 1
    timed.sort(key=lambda item: item[0])
    lines = [
        json.dumps({"source": "shop", "occurred_at": at.isoformat(), **event})
        for at, event in timed
    ]
    return lines, expected


@dataclass
class Run:
    database: str
    lines: int
    seconds: float  # the whole `ladder import`: store, process, score the segments
    processing_s: float  # as `ladder import` printed it
    cpu_s: float  # the import process's user + system CPU
    bare_s: float  # a bare insert of the same lines, in batches of 1,000
    problems: list[str]
    checked: dict[str, str]


def run_import(database_url: str, path: Path, workdir: Path) -> tuple[float, float, float, str]:
    """`ladder import PATH` in a process of its own: wall s, processing s, CPU s, output."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["LADDER_ENV"] = "development"  # a bench: the demo identity is fine
    env |= {"DATABASE_URL": database_url, "EMAIL_BACKEND": "file", "DEFAULT_CURRENCY": "EUR"}
    env |= {"OUTBOX_DIR": str(workdir / "outbox"), "SPOOL_DIR": str(workdir / "spool")}
    env |= {"COLUMNS": "200"}  # one line for the summary, whatever the terminal
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", "import", str(path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"ladder import failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    processed = re.search(r"Processed ([\d,]+) events in ([\d.]+) s", done.stdout)
    if processed is None:
        raise BenchError(f"ladder import said nothing about processing:\n{done.stdout[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, float(processed.group(2)), cpu, done.stdout


def bare_insert(database_url: str, lines: list[str]) -> float:
    """The same lines parsed and inserted as rows of a bare table, 1,000 to a transaction."""
    ddl = (
        "CREATE TABLE bare_events (id {serial} PRIMARY KEY, source VARCHAR(32), source_event_id"
        " VARCHAR(255), type VARCHAR(64), occurred_at VARCHAR(40), payload TEXT,"
        " UNIQUE (source, source_event_id))"
    )
    insert = text(
        "INSERT INTO bare_events (source, source_event_id, type, occurred_at, payload)"
        " VALUES (:source, :id, :type, :occurred_at, :payload)"
    )
    engine = get_engine(database_url)
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as conn:
        conn.execute(text(ddl.format(serial=serial)))
    started = time.perf_counter()
    for at in range(0, len(lines), 1000):
        rows = []
        for line in lines[at : at + 1000]:
            event = json.loads(line)
            rows.append({**{k: event[k] for k in ("source", "id", "type", "occurred_at")}})
            rows[-1]["payload"] = line
        with engine.begin() as conn:
            conn.execute(insert, rows)
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bare_events"))
    return seconds


def check(database_url: str, expected: dict[str, Expected], now: datetime) -> dict[str, str]:
    """What the import left, against the history: problems raise BenchError at the end."""
    problems: list[str] = []
    with Session(get_engine(database_url)) as db:
        customers = {c.email: c for c in db.exec(select(Customer)).all()}
        wrong = [
            email
            for email, facts in expected.items()
            if (found := customers.get(email)) is None
            or found.orders_count != len(facts.orders)
            or found.total_spent != sum(cents for _, cents in facts.orders)
            or found.last_order_at != facts.orders[-1][0]
        ]
        if wrong:
            problems.append(f"{len(wrong)} customers with wrong facts, e.g. {wrong[:3]}")
        unscored = [email for email, c in customers.items() if not c.segment]
        if unscored:
            problems.append(f"{len(unscored)} customers without a segment")
        stored = {email: c.segment for email, c in customers.items()}
        segments.refresh(db, now)  # the same day, the same facts: nothing may move
        db.expire_all()
        rescored = {c.email: c.segment for c in db.exec(select(Customer)).all()}
        moved = sum(stored[email] != segment for email, segment in rescored.items())
        if moved:
            problems.append(f"{moved} segments differ from a refresh of the final facts")
        waiting = {
            d.customer_id: d.send_at
            for d in db.exec(
                select(Delivery).where(
                    Delivery.trigger == "win-back", Delivery.status == "scheduled"
                )
            ).all()
        }
        sent = len(db.exec(select(Delivery.id).where(Delivery.status == "sent")).all())
    lapsing = {e for e, facts in expected.items() if facts.win_back_due > now + MARGIN}
    past = {e for e, facts in expected.items() if facts.win_back_due < now - STILL_SENT}
    has_wait = {email for email, c in customers.items() if c.id in waiting}
    missing, extra = lapsing - has_wait, past & has_wait
    if missing:
        problems.append(f"{len(missing)} lapsing customers without their win-back wait")
    if extra:
        problems.append(f"{len(extra)} customers whose win-back moment passed still wait")
    if sent:
        problems.append(f"{sent} emails sent from the old history")
    if problems:
        raise BenchError("; ".join(problems))
    segments_found = len(set(rescored.values()))
    return {
        "facts exact (customers)": f"{len(expected):,} / {len(expected):,}",
        "segments = a refresh of the facts": f"{segments_found} segments",
        "win-back waits scheduled": f"{len(lapsing & has_wait):,} / {len(lapsing):,} lapsing",
        "emails sent from old history": "0",
    }


def measure(database_url: str, lines: list[str], expected: dict[str, Expected], now: datetime,
            path: Path, workdir: Path) -> Run:  # fmt: skip
    seconds, processing, cpu, _ = run_import(database_url, path, workdir)
    checked = check(database_url, expected, now)
    bare = bare_insert(database_url, lines)
    name = get_engine(database_url).dialect.name
    return Run(name, len(lines), seconds, processing, cpu, bare, [], checked)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.importing", description=__doc__)
    parser.add_argument("--customers", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=80)
    load = os.getloadavg()[0]
    now = datetime.now(UTC).replace(microsecond=0)
    lines, expected = history(args.customers, args.seed, now)
    orders = sum(len(facts.orders) for facts in expected.values())
    console.print(f"{len(lines):,} events: {orders:,} orders of {len(expected):,} customers")
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ladder-import-") as scratch:
            workdir = Path(scratch)
            path = workdir / "history.jsonl"
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            sqlite_url = f"sqlite:///{workdir / 'ladder.db'}"
            migrate.upgrade(sqlite_url)  # as `ladder db upgrade` would
            runs.append(measure(sqlite_url, lines, expected, now, path, workdir))
            with bench_services() as services:
                runs.append(measure(services.database_url, lines, expected, now, path, workdir))
    except BenchError as exc:
        console.print(f"[red]import bench failed:[/red] {exc}")
        return 1
    console.print(table(runs, load))
    return 0


def table(runs: list[Run], load: float) -> Table:
    shown = Table(title=f"ladder import, nothing else (load {load:.2f} at the start)")
    shown.add_column("what")
    for run in runs:
        shown.add_column(run.database, justify="right")
    rows = {
        "whole import, events/s": [f"{r.lines / r.seconds:,.0f}" for r in runs],
        "  bare insert of the lines/s": [f"{r.lines / r.bare_s:,.0f}" for r in runs],
        "processing, events/s": [f"{r.lines / r.processing_s:,.0f}" for r in runs],
        "import CPU ms/event": [f"{1000 * r.cpu_s / r.lines:.2f}" for r in runs],
        "whole import s": [f"{r.seconds:.1f}" for r in runs],
    }
    for key in runs[0].checked:
        rows[key] = [r.checked[key] for r in runs]
    for what, cells in rows.items():
        shown.add_row(what, *cells)
    return shown


if __name__ == "__main__":
    sys.exit(main())
