"""Measurement at scale on PostgreSQL: a shop of 1,000,000 customers and 10,000,000 orders, two
million emails and their attributions. Times the daily segment refresh (a first scoring, then
a day on which a tenth of the customers bought again) beside a bare RANK() + UPDATE of every
row, each `ladder report` section beside a raw SQL aggregate over the same rows, and the CLV
fit (targets: the refresh and each section under 10 s, the fit under 60 s).

    python -m bench.scale [--customers 1000000] [--orders 10000000] [--emails 2000000] [--keep]
                          [--database ladder_bench_scale] [--only refresh clv abc lift ...]

With --keep the shop is written once into the database `ladder_bench_scale` (or --database) on
the server and kept: the next run with the same sizes resets what the measured steps write and
measures again (three runs for a median cost one shop). Drop it with `DROP DATABASE …`. --only
measures some steps: `refresh` (segments and rungs), `clv` (the weekly fit and `--as-of`),
`abc`, or report section names; the refresh runs first whatever is chosen (the rest reads it).

The shop is written by generate_series in the database (a few minutes): orders skewed so that
a fifth of the customers place most of them, two years of them, two million emails of eight
triggers with a tenth held out, each order after an email within five days credited to it.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import create_engine, event, make_url, text
from sqlmodel import Session

from models import migrate
from models.db import get_engine, session
from tests.support.services import private_postgres, psycopg_url, scratch_database
from worker.audience import segments
from worker.authoring.report import SECTIONS, gather
from worker.measurement import abc, predictions, rung_scheme, rungs
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT, Settings

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
TRIGGERS = ("thank_you", "win_back", "birthday", "replenish", "cross_sell", "vip_welcome",
            "browse_abandon", "cart_abandon")  # fmt: skip
TARGET_S = {"refresh": 10.0, "section": 10.0, "clv": 60.0}

STEPS: list[tuple[str, str]] = [
    (
        "customers",
        """
        INSERT INTO customers (id, email, accepts_marketing, created_at, currency, orders_count,
                               total_spent, average_order_value, locale)
        SELECT n, 'c' || n || '@example.com', true,
               :now - (floor(random() * 900) || ' days')::interval, 'EUR', 0, 0, 0, 'en'
        FROM generate_series(1, :customers) AS n""",
    ),
    ("customer ids", "SELECT setval(pg_get_serial_sequence('customers', 'id'), :customers)"),
    # power(random(), 3): the lowest ids buy most often, as a fifth of customers bring most.
    (
        "orders",
        """
        INSERT INTO orders (source, source_order_id, customer_id, status, total, currency,
                            placed_at, shop_total, refunded, shop_refunded)
        SELECT 'shopify', 'o' || n, 1 + floor(:customers * power(random(), 3))::int, 'paid',
               t, 'EUR', :now - random() * interval '730 days', t, 0, 0
        FROM (SELECT n, 1500 + floor(random() * 8000)::int AS t
              FROM generate_series(1, :orders) AS n) AS drawn""",
    ),
    (
        "customer facts",
        """
        UPDATE customers SET orders_count = s.k, total_spent = s.t,
               average_order_value = s.t / s.k, first_order_at = s.f, last_order_at = s.l,
               revenue_12m = coalesce(s.y, 0), revenue_12m_oldest_at = s.yf
        FROM (SELECT customer_id, count(*) AS k, sum(shop_total) AS t, min(placed_at) AS f,
                     max(placed_at) AS l,
                     sum(shop_total) FILTER (WHERE placed_at > :now - interval '365 days') AS y,
                     min(placed_at) FILTER (WHERE placed_at > :now - interval '365 days') AS yf
              FROM orders GROUP BY customer_id) AS s
        WHERE customers.id = s.customer_id""",
    ),
    (
        "an event",
        """
        INSERT INTO events (id, source, source_event_id, type, occurred_at, received_at,
                            payload, status, attempts)
        VALUES (1, 'bench', 'cause', 'order.paid', :now, :now, '{}', 'processed', 1)""",
    ),
    ("event ids", "SELECT setval(pg_get_serial_sequence('events', 'id'), 1)"),
    (
        "emails",
        """
        INSERT INTO deliveries (dedupe_key, trigger, message, variant, segment, customer_id,
                                cause_event_id, status, send_at, message_class, priority,
                                created_at, sent_at, attempts, failures, attribution,
                                attribution_window_s)
        SELECT tr || ':' || n, tr, tr, 'a', 'loyal', c, 1, st, at, 'marketing', 0, at,
               CASE WHEN st = 'sent' THEN at END, 1, 0, 'received', 432000
        FROM (SELECT n, (ARRAY['thank_you', 'win_back', 'birthday', 'replenish', 'cross_sell',
                               'vip_welcome', 'browse_abandon', 'cart_abandon'])[1 + n % 8] AS tr,
                     1 + floor(:customers * power(random(), 2))::int AS c,
                     CASE WHEN random() < 0.1 THEN 'held_out' ELSE 'sent' END AS st,
                     :now - random() * interval '730 days' AS at
              FROM generate_series(1, :emails) AS n) AS drawn""",
    ),
    (
        "attributions",
        """
        INSERT INTO attributions (order_id, delivery_id, customer_id, trigger, rule, window_s,
                                  touched_at, attributed_at)
        SELECT DISTINCT ON (o.id) o.id, d.id, d.customer_id, d.trigger, 'received', 432000,
               d.sent_at, o.placed_at
        FROM deliveries AS d
        JOIN orders AS o ON o.customer_id = d.customer_id AND o.placed_at >= d.sent_at
                        AND o.placed_at < d.sent_at + interval '5 days'
        WHERE d.status = 'sent'
        ORDER BY o.id, d.sent_at DESC""",
    ),
    (
        "survey answers",
        """
        INSERT INTO events (source, source_event_id, type, occurred_at, received_at, payload,
                            status, attempts, customer_id)
        SELECT 'ladder', 'survey:' || n, 'survey.answered', at, at,
               json_build_object('data', json_build_object(
                   'kind', 'nps', 'score', floor(random() * 11)::int)), 'processed', 1,
               1 + n * 7 % :customers
        FROM (SELECT n, :now - random() * interval '365 days' AS at
              FROM generate_series(1, :customers / 20) AS n) AS drawn""",
    ),
    ("statistics", "ANALYZE"),
]

# The bare components: what the database does with the same rows, asked directly.
BARE_REFRESH = """
UPDATE customers SET rfm = CAST(s.r AS VARCHAR(1)) || CAST(s.f AS VARCHAR(1))
                           || CAST(s.m AS VARCHAR(1))
FROM (SELECT id,
        1 + (RANK() OVER (ORDER BY last_order_at) - 1) * 5 / COUNT(*) OVER () AS r,
        1 + (RANK() OVER (ORDER BY orders_count) - 1) * 5 / COUNT(*) OVER () AS f,
        1 + (RANK() OVER (ORDER BY total_spent) - 1) * 5 / COUNT(*) OVER () AS m
      FROM customers WHERE orders_count > 0) AS s
WHERE customers.id = s.id
"""
# What writing every buyer's prediction costs the database alone (the same values again: every
# row still gets a new version), for the weekly fit's write beside it.
BARE_WRITE = """UPDATE customers SET p_alive = p_alive, predicted_orders = predicted_orders,
                                     clv = clv
                WHERE orders_count > 0"""
AGAIN = """UPDATE customers SET last_order_at = :at, orders_count = orders_count + 1
           WHERE id % 10 = 0 AND orders_count > 0"""
MOVED = "SELECT count(*) FROM customers WHERE segment_changed_at = :at"
BARE_SECTION = {
    "emails": """SELECT d.trigger, d.status, count(*), sum(o.shop_total - o.shop_refunded)
                 FROM deliveries AS d LEFT JOIN attributions AS a ON a.delivery_id = d.id
                 LEFT JOIN orders AS o ON o.id = a.order_id GROUP BY d.trigger, d.status""",
    "lift": """SELECT d.trigger, d.status, count(DISTINCT d.customer_id), count(o.id)
               FROM deliveries AS d LEFT JOIN orders AS o ON o.customer_id = d.customer_id
                 AND o.placed_at >= d.send_at AND o.placed_at < d.send_at + interval '5 days'
               GROUP BY d.trigger, d.status""",
    "clv": """SELECT customer_id, count(*), min(placed_at), max(placed_at), avg(shop_total)
              FROM orders GROUP BY customer_id""",
    "value": """SELECT segment, count(*), avg(total_spent), avg(clv), avg(p_alive)
                FROM customers GROUP BY segment""",
    "abc": "SELECT abc, count(*), avg(total_spent), avg(clv) FROM customers GROUP BY abc",
    "nps": """SELECT date_trunc('month', occurred_at), count(*) FROM events
              WHERE type = 'survey.answered' GROUP BY 1""",
    "migration": "SELECT from_rung, to_rung, count(*) FROM ladder_moves GROUP BY 1, 2",
    "cohorts": """SELECT date_trunc('month', c.first_order_at), date_trunc('month', o.placed_at),
                         count(DISTINCT o.customer_id)
                  FROM orders AS o JOIN customers AS c ON c.id = o.customer_id GROUP BY 1, 2""",
    "churn": """SELECT date_trunc('quarter', placed_at), count(DISTINCT customer_id) FROM orders
                GROUP BY 1""",
}


@dataclass(frozen=True)
class Timed:
    what: str
    rows: int
    seconds: float
    cpu_s: float  # this process's CPU over the same window (the database's is not in it)
    bare_s: float | None = None  # the bare component, same rows, same run
    target_s: float | None = None


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def clock() -> Iterator[Callable[[], tuple[float, float]]]:
    started, cpu = time.perf_counter(), cpu_now()
    yield lambda: (time.perf_counter() - started, cpu_now() - cpu)


@contextmanager
def statements_timed(url: str, console: Console, at_least_s: float = 0.5) -> Iterator[None]:
    """Prints each statement of the block that took `at_least_s` or more: where a step's time
    goes, by SQLAlchemy's cursor events."""
    engine = get_engine(url)
    found: list[tuple[float, int, str]] = []

    def before(conn: Any, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        found.append((time.perf_counter() - conn.info["started"], cursor.rowcount,
                      " ".join(statement.split())[:52]))  # fmt: skip

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    for seconds, rows, statement in found:
        if seconds >= at_least_s:
            console.print(f"    {seconds:6.2f} s {rows:>9,} rows  {statement}", highlight=False)


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    with clock() as elapsed:
        result = work()
        seconds, cpu = elapsed()
    return result, seconds, cpu


def populate(url: str, sizes: dict[str, int], console: Console) -> None:
    with Progress(console=console, transient=True) as progress, session(url) as db:
        task = progress.add_task("writing the shop", total=len(STEPS))
        for name, statement in STEPS:
            progress.update(task, description=f"writing {name}")
            _, seconds, _ = timed(
                lambda s=statement: db.execute(text(s), {"now": NOW, **sizes})  # type: ignore[misc]
            )
            db.commit()
            console.print(f"  {name}: {seconds:.1f} s")
            progress.advance(task)
    # As autovacuum would after the bulk inserts: the pages marked all-visible, so statements
    # reading the orders' index alone need not visit the table.
    vacuum(url, "orders")


def vacuum(url: str, table: str) -> None:
    """VACUUM ANALYZE `table`, as autovacuum would between two daily refreshes."""
    with get_engine(url).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f"VACUUM ANALYZE {table}")
        )


def bare(db: Session, statement: str) -> float:
    def run() -> None:
        result = db.execute(text(statement))
        if statement.lstrip().upper().startswith("SELECT"):
            result.all()

    _, seconds, _ = timed(run)
    return seconds


STEP_NAMES = ("refresh", "clv", "abc", *SECTIONS)


def measure(
    url: str,
    settings: Settings,
    console: Console,
    only: frozenset[str] = frozenset(STEP_NAMES),
    statements: bool = False,
) -> list[Timed]:
    found: list[Timed] = []
    later = NOW + timedelta(days=1)
    with session(url) as db:
        customers = int(db.execute(text("SELECT count(*) FROM customers")).scalar_one())

        def add(
            what: str, work: Callable[[], Any], bare_sql: str | None, target: str | None
        ) -> None:
            if statements:
                console.print(f"  {what}", highlight=False)
            with statements_timed(url, console) if statements else nullcontext():
                _, seconds, cpu = timed(work)
            db.commit()
            bare_s = None if bare_sql is None else bare(db, bare_sql)
            db.rollback()  # the bare statements are for their time only
            found.append(Timed(what, customers, seconds, cpu, bare_s,
                               None if target is None else TARGET_S[target]))  # fmt: skip

        # Told as the clock tells them: the events the shipped triggers listen to.
        told = segments.told_of(Runtime(settings).triggers)
        add("segment refresh, first", lambda: segments.refresh(db, NOW, told=told), None, None)
        ladder = rung_scheme.load_scheme(
            rung_scheme.default_path(settings.measurement_dir), segments=segments.segment_names()
        )
        assert ladder is not None, "measurement/rungs.toml is shipped"
        currency = settings.default_currency
        add("rung refresh, first", lambda: rungs.refresh(db, ladder, now=NOW, currency=currency),
            None, None)  # fmt: skip
        # A day later a tenth of the customers bought again: their recency (and so many
        # scores) moves; the rest stand. In that day autovacuum has been by: the first
        # placements rewrote every row twice (a once-only cost), and with three dead versions
        # of each row the day's refresh would scan four times the table. It has been by the
        # ladder's moves and the events too (a million of each written once, at the first
        # placements): a report read them the same hour without, setting each row's hint bits.
        db.execute(text(AGAIN), {"at": NOW + timedelta(hours=20)})
        db.commit()
        for table in ("customers", "ladder_moves", "events"):
            vacuum(url, table)
        add("segment refresh, a day later", lambda: segments.refresh(db, later, told=told),
            BARE_REFRESH, "refresh")  # fmt: skip
        add("rung refresh, a day later", lambda: rungs.refresh(db, ladder, now=later,
            currency=currency), None, "refresh")  # fmt: skip
        moved = db.execute(text(MOVED), {"at": later}).scalar_one()
        console.print(f"  the day's refresh moved {moved:,} customers' segments")
        horizon = settings.clv_horizon_days
        if only & {"clv", "abc", "value"}:  # ABC and the value section read the weekly fit
            add("CLV fit, weekly (clock)", lambda: predictions.refresh(db, now=NOW,
                horizon_days=horizon), BARE_SECTION["clv"], "clv")  # fmt: skip
        if "abc" in only:
            scheme = abc.load_scheme(settings.measurement_dir / "abc.toml")
            add("ABC classes, weekly", lambda: abc.classify(db, now=NOW, scheme=scheme),
                None, None)  # fmt: skip
        for section in (name for name in SECTIONS if name in only):
            add(f"report {section}", partial(gather, db, settings, {section}, day=NOW.date(),
                since=None, until=None, now=NOW), BARE_SECTION.get(section), "section")  # fmt: skip
        if "clv" in only:
            add("report clv --as-of (fits)", partial(gather, db, settings, {"clv"},
                day=NOW.date(), since=None, until=None, now=NOW, refit=True),
                BARE_SECTION["clv"], "clv")  # fmt: skip
        if only & {"clv", "abc"}:  # last: it leaves a version of every buyer's row behind
            add("bare UPDATE of every buyer's 3 prediction columns",
                lambda: db.execute(text(BARE_WRITE)), None, None)  # fmt: skip
    return found


def show(console: Console, found: Sequence[Timed], sizes: dict[str, int], load: float) -> None:
    table = Table(title=f"bench.scale on PostgreSQL: {sizes['customers']:,} customers, "
                  f"{sizes['orders']:,} orders, {sizes['emails']:,} emails")  # fmt: skip
    for column in ("what", "seconds", "bare SQL", "target", "CPU s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for t in found:
        table.add_row(t.what, f"{t.seconds:.2f}",
                      "-" if t.bare_s is None else f"{t.bare_s:.2f}",
                      "-" if t.target_s is None else f"< {t.target_s:.0f}",
                      f"{t.cpu_s:.2f}")  # fmt: skip
    console.print(table)
    console.print(f"load average at the start: {load:.2f} (2 cores here; other jobs skew it)")
    missed = [t.what for t in found if t.target_s is not None and t.seconds > t.target_s]
    console.print("every figure within its target" if not missed else f"over target: {missed}")


KEPT = "ladder_bench_scale"
RESET = [
    """UPDATE customers SET rfm = NULL, segment = NULL, segment_changed_at = NULL,
              previous_segment = NULL, p_alive = NULL, predicted_orders = NULL, clv = NULL,
              abc = NULL, abc_score = NULL, last_order_at = f.l, orders_count = f.k,
              revenue_12m = coalesce(f.y, 0), revenue_12m_oldest_at = f.yf
       FROM (SELECT customer_id, count(*) AS k, max(placed_at) AS l,
                    sum(shop_total) FILTER (WHERE placed_at > :now - interval '365 days') AS y,
                    min(placed_at) FILTER (WHERE placed_at > :now - interval '365 days') AS yf
             FROM orders GROUP BY customer_id) AS f
       WHERE customers.id = f.customer_id""",
    "DELETE FROM clv_fits",
    "UPDATE customers SET rung = NULL, rung_changed_at = NULL, previous_rung = NULL,"
    " rung_version = 0",
    "DELETE FROM ladder_moves",
    "DELETE FROM events WHERE type IN ('segment.entered', 'segment.exited', 'rung.up',"
    " 'rung.down')",
    "VACUUM ANALYZE customers",
    "VACUUM ANALYZE orders",  # quick once done: a shop kept from before populate vacuumed them
]


def kept_database(server: str, sizes: dict[str, int], console: Console, name: str = KEPT) -> str:
    """The kept shop: written when missing (or of other sizes), else reset for another run."""
    admin_url = make_url(psycopg_url(server))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.first() is not None:
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as shop:
                have = {name: shop.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                        for name, table in (("customers", "customers"), ("orders", "orders"),
                                            ("emails", "deliveries"))}  # fmt: skip
                if have == sizes:
                    console.print(f"  reusing {name}: resetting what the last run wrote")
                    migrate.upgrade(url)  # the schema of this checkout
                    for statement in RESET:
                        shop.execute(text(statement), {"now": NOW} if ":now" in statement else {})
                    engine.dispose()
                    admin.dispose()
                    return url
            engine.dispose()
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    migrate.upgrade(url)
    populate(url, sizes, console)
    return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--emails", type=int, default=2_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the shop in --database")
    parser.add_argument("--database", default=KEPT, help="the kept shop's database name")
    parser.add_argument("--only", nargs="+", choices=STEP_NAMES, default=list(STEP_NAMES))
    parser.add_argument("--statements", action="store_true", help="print each slow statement")
    args = parser.parse_args(argv)
    sizes = {"customers": args.customers, "orders": args.orders, "emails": args.emails}
    console = Console()
    settings = Settings(_env_file=None, templates_dir=PROJECT_ROOT / "templates")
    load = os.getloadavg()[0]
    with ExitStack() as stack:
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        server = server or stack.enter_context(private_postgres())
        if args.keep:
            url = kept_database(server, sizes, console, args.database)
        else:
            url = stack.enter_context(scratch_database(server))
            migrate.upgrade(url)
            populate(url, sizes, console)
        stack.callback(lambda: get_engine(url).dispose())
        found = measure(url, settings, console, frozenset(args.only), args.statements)
    show(console, found, sizes, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
