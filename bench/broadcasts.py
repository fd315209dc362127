"""A broadcast resolved on PostgreSQL: a run over `--customers` customers (10:00 in each of
their zones, an A/B split, consent held back) into its deliveries, beside a bare
`INSERT … SELECT` of as many rows into a table shaped and indexed like the deliveries.

    python -m bench.broadcasts [--customers 1000000] [--stream 20000] [--threads 8]

Uses `BENCH_DATABASE_URL` (else `TEST_DATABASE_URL`) as the server when set, else a private
PostgreSQL; always in a new scratch database, dropped at the end. Target: under 30 s.
Then the run's first `--stream` deliveries go out through the clock's relay and one worker
process to a SendGrid stand-in, beside bare Dramatiq on the same Redis (`bench/broadcast_stream.py`;
`REDIS_URL` when set, else a private Redis).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bench.broadcast_stream import stream
from bench.report import print_table, rows
from models import migrate
from models.db import get_engine, session
from tests.support.services import private_postgres, private_redis, scratch_database
from triggers.broadcast import Broadcast
from worker.rendering.sandbox import make_environment
from worker.scheduling import broadcasts
from worker.settings import PROJECT_ROOT, Settings

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
TARGET_S = 30.0
ZONES = (
    "Asia/Tokyo", "Europe/Berlin", "Europe/Madrid", "America/Los_Angeles",
    "America/New_York", "Europe/Moscow", "Asia/Shanghai", "UTC",
)  # fmt: skip
NEWS = Broadcast.model_validate(
    {
        "name": "whats-new",
        "message": "whats_new",
        "date": date(2027, 1, 5),
        "variants": [
            {"name": "plain", "share": 0.5},
            {"name": "personal", "share": 0.5, "message": "whats_new_b"},
        ],
    }
)


def populate(database_url: str, customers: int) -> None:
    """`customers` customers in eight zones and five languages, nine in ten with consent.
    Set-based, so it is not what is measured."""
    zones = ", ".join(f"'{zone}'" for zone in ZONES)
    with get_engine(database_url).begin() as conn:
        conn.execute(
            text(f"""
            INSERT INTO customers (email, accepts_marketing, created_at, orders_count,
                                   total_spent, average_order_value, segment, locale, timezone)
            SELECT 'c' || g || '@example.com', g % 10 <> 0, :now, 1, 4590, 4590, 'loyal',
                   (ARRAY['en', 'de', 'es', 'ru', 'zh'])[1 + g % 5],
                   (ARRAY[{zones}])[1 + g % {len(ZONES)}]
            FROM generate_series(1, :n) AS g
            """),
            {"now": NOW.replace(tzinfo=None), "n": customers},
        )
        conn.execute(
            text("CREATE TABLE bare (LIKE deliveries INCLUDING DEFAULTS INCLUDING INDEXES)")
        )
        conn.execute(text("ANALYZE"))


def time_resolve(database_url: str, settings: Settings) -> tuple[float, int]:
    env = make_environment(settings.templates_dir)
    with session(database_url) as db:
        run_id = broadcasts.schedule(db, NEWS, now=NOW, settings=settings)
        started = time.perf_counter()
        resolved = broadcasts.resolve(
            db, run_id, NEWS, day=NEWS.send_on, env=env, settings=settings, now=NOW
        )
        elapsed = time.perf_counter() - started
    assert resolved is not None
    return elapsed, resolved.scheduled + resolved.skipped


def time_bare(database_url: str) -> tuple[float, int]:
    """The same number of delivery rows, one INSERT … SELECT, nothing computed."""
    with get_engine(database_url).begin() as conn:
        started = time.perf_counter()
        inserted = conn.execute(
            text("""
            INSERT INTO bare (dedupe_key, trigger, message, customer_id, cause_event_id, status,
                              send_at, created_at, attempts, failures, message_class, priority)
            SELECT 'bare:' || id, 'broadcast:whats-new', 'whats_new', id, 1, 'scheduled', :now,
                   :now, 0, 0, 'marketing', 0
            FROM customers
            """),
            {"now": NOW.replace(tzinfo=None)},
        ).rowcount
        return time.perf_counter() - started, int(inserted)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--stream", type=int, default=20_000, help="deliveries sent; 0: none")
    parser.add_argument("--threads", type=int, default=8, help="the worker's dramatiq --threads")
    args = parser.parse_args(argv)
    if not 0 <= args.stream <= args.customers // 2:
        parser.error("--stream must be between 0 and half of --customers")
    load = os.getloadavg()[0]
    console = Console()
    settings = Settings(
        _env_file=None, templates_dir=PROJECT_ROOT / "templates", send_window="09:00-20:00"
    )
    with ExitStack() as stack:
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        server = server or stack.enter_context(private_postgres())
        url = stack.enter_context(scratch_database(server))
        stack.callback(lambda: get_engine(url).dispose())
        migrate.upgrade(url)
        started = time.perf_counter()
        populate(url, args.customers)
        console.print(f"populated in {time.perf_counter() - started:.1f} s")
        resolve_s, resolved = time_resolve(url, settings)
        bare_s, bare_rows = time_bare(url)
        if args.stream:
            redis_url = os.environ.get("REDIS_URL") or stack.enter_context(private_redis())
            streamed = stream(url, redis_url, emails=args.stream, threads=args.threads)
    table = Table(title=f"bench.broadcasts on PostgreSQL (target: under {TARGET_S:.0f} s)")
    for column in ("what", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row(
        "broadcast resolved (its deliveries)", f"{resolved:,}", f"{resolve_s:.2f}",
        f"{resolved / resolve_s:,.0f}",
    )  # fmt: skip
    table.add_row(
        "bare INSERT … SELECT (deliveries only)", f"{bare_rows:,}", f"{bare_s:.2f}",
        f"{bare_rows / bare_s:,.0f}",
    )  # fmt: skip
    console.print(table)
    console.print(f"{resolve_s / bare_s:.1f} times the bare insert")
    console.print(f"load average as the run started: {load:.2f} (2 cores, shared)")
    if not args.stream:
        return 0 if resolve_s < TARGET_S else 1
    notes = [
        f"one worker process (dramatiq --threads {args.threads}), the sendgrid client against a",
        f"local stand-in answering 202; the relay took {streamed.relay_s:.2f} s of it",
    ]
    print_table(console, rows(streamed.bare, [streamed.emails], []),
                title="The broadcast's first deliveries streamed", notes=notes)  # fmt: skip
    if streamed.accepted != streamed.expected:
        console.print(f"[red]the stand-in accepted {streamed.accepted:,} emails for "
                      f"{streamed.expected:,} sent[/red]")  # fmt: skip
        return 1
    return 0 if resolve_s < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
