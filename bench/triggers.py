"""Scale of the trigger language on PostgreSQL: the daily birthday sweep over 1M customers, and
the clock selecting 100k due deliveries out of 1M, each timed (target: under 10 s).

    python -m bench.triggers [--customers 1000000] [--due 100000]

Uses `BENCH_DATABASE_URL` (else `TEST_DATABASE_URL`) as the server when set, else a private
PostgreSQL; always in a new scratch database, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlmodel import col

from models import Delivery, DeliveryStatus, migrate
from models.db import get_engine, session
from tests.support.services import private_postgres, scratch_database
from triggers import Trigger
from worker.audience import dates
from worker.queue import relays
from worker.scheduling import budget

NOW = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
TARGET_S = 10.0
BIRTHDAY = Trigger(name="birthday", message="birthday", on="date:customer.birthday")


def populate(database_url: str, customers: int, due: int) -> None:
    """`customers` customers with birthdays spread over the year; as many deliveries, `due` of
    them due now and the rest next month. Set-based, so it is not what is measured."""
    with get_engine(database_url).begin() as conn:
        conn.execute(
            text("""
            INSERT INTO customers (email, accepts_marketing, created_at, orders_count,
                                   total_spent, average_order_value, birthday, segment)
            SELECT 'c' || g || '@example.com', g % 10 <> 0, :now, 1, 4590, 4590,
                   DATE '1960-01-01' + (g::bigint * 7919 % 20000)::int, 'loyal'
            FROM generate_series(1, :n) AS g
            """),
            {"now": NOW.replace(tzinfo=None), "n": customers},
        )
        conn.execute(
            text("""
            INSERT INTO events (source, source_event_id, type, occurred_at, received_at,
                                payload, status, attempts)
            VALUES ('bench', 'cause', 'order.placed', :now, :now, '{}', 'processed', 0)
            """),
            {"now": NOW.replace(tzinfo=None)},
        )
        conn.execute(
            text("""
            INSERT INTO deliveries (dedupe_key, trigger, message, customer_id, cause_event_id,
                                    status, send_at, created_at, attempts, message_class, priority)
            SELECT 'bench:' || g, 'thank-you', 'thank_you', g, 1, 'scheduled',
                   CASE WHEN g <= :due THEN :now - INTERVAL '1 minute'
                        ELSE :now + INTERVAL '30 days' END,
                   :now, 0, 'marketing', 0
            FROM generate_series(1, :n) AS g
            """),
            {"now": NOW.replace(tzinfo=None), "n": customers, "due": due},
        )
        conn.execute(text("ANALYZE"))


def time_sweep(database_url: str) -> tuple[float, int]:
    with session(database_url) as db:
        started = time.perf_counter()
        added = dates.sweep(db, [BIRTHDAY], day=date(2026, 12, 2), now=NOW)
        return time.perf_counter() - started, sum(added.values())


def time_due_selection(database_url: str) -> tuple[float, int]:
    """The clock's relay over every due delivery, in its batches of 1,000 (without a broker)."""
    waiting = (col(Delivery.status) == DeliveryStatus.SCHEDULED) & (col(Delivery.send_at) <= NOW)
    selected = 0
    with session(database_url) as db:
        started = time.perf_counter()
        while ids := relays.take_waiting(
            db, Delivery, waiting, now=NOW, requeue_after=timedelta(minutes=5)
        ):
            selected += len(ids)
        return time.perf_counter() - started, selected


def time_budget_checks(database_url: str, checks: int) -> tuple[float, int]:
    """The send-time budget look-up, once per delivery, for `checks` customers."""
    with session(database_url) as db:
        started = time.perf_counter()
        for customer_id in range(1, checks + 1):
            budget.taken(
                db,
                customer_id=customer_id,
                delivery_id=customer_id,
                priority=0,
                now=NOW,
                since=NOW - timedelta(days=7),
            )
        db.commit()
        return time.perf_counter() - started, checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--budget-checks", type=int, default=10_000)
    args = parser.parse_args(argv)
    console = Console()
    with ExitStack() as stack:
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        server = server or stack.enter_context(private_postgres())
        url = stack.enter_context(scratch_database(server))
        stack.callback(lambda: get_engine(url).dispose())
        migrate.upgrade(url)
        started = time.perf_counter()
        populate(url, args.customers, args.due)
        console.print(f"populated in {time.perf_counter() - started:.1f} s")
        results = [
            ("birthday sweep", f"{args.customers:,} customers", *time_sweep(url)),
            ("due deliveries selected", f"{args.customers:,} deliveries", *time_due_selection(url)),
            (
                "budget look-ups",
                f"{args.customers:,} deliveries",
                *time_budget_checks(url, args.budget_checks),
            ),
        ]
    table = Table(title=f"bench.triggers on PostgreSQL (target: each under {TARGET_S:.0f} s)")
    for column in ("what", "over", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column in ("what", "over") else "right")
    for what, over, seconds, rows in results:
        table.add_row(what, over, f"{rows:,}", f"{seconds:.2f}", f"{rows / seconds:,.0f}")
    console.print(table)
    return 0 if all(seconds < TARGET_S for _, _, seconds, _ in results[:2]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
