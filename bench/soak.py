"""`make bench`, the webhook soak: signed Shopify `orders/create` deliveries at a steady rate
into the Procfile's own `web`, `worker` and `clock` (PostgreSQL, Redis) for minutes, each a new
order of a new customer; then how long the backlog takes to drain once the load stops. Beside
it, from the same run: a bare FastAPI endpoint doing the same HMAC check (its accept rate) and
a bare Dramatiq no-op actor (its message rate).

    python -m bench.soak [--rate 300] [--seconds 300 | --quick]

Processed means normalised into events and those applied: customers and their order facts
updated, a delivery scheduled (a trigger a day after each order).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bench import procfile
from bench.baseline import measure_noop
from bench.harness import BenchError, bench_services, stop_group, tail
from bench.load import LoadResult, build_request, run_load, run_stream
from bench.report import Measurement, this_machine
from bench.webhooks import SAMPLE, SECRET, signed_requests
from models.db import get_engine
from tests.support.services import free_port
from tests.support.webhooks import base64_hmac

SHOP = "bench.myshopify.com"
TARGET_DRAIN_S = 10.0
DRAIN_TIMEOUT_S = 600.0
BARE_REQUESTS = 5_000
BARE_MESSAGES = 5_000
LOGS: dict[str, Path] = {}  # the Procfile processes' logs, quoted when the backlog is stuck
ORDER_MARK, CUSTOMER_MARK, N_MARK = 7_777_777_777_777, 8_888_888_888_888, "NNNNNN"
TRIGGER_TOML = 'name = "soak-follow-up"\nmessage = "thank_you"\non = "order.placed"\nwait = "1d"\n'


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--rate", type=float, default=300.0, help="webhooks/s")
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the load")
    parser.add_argument("--quick", action="store_true", help="30 s of load, for development")
    parser.add_argument("--connections", type=int, default=32, help="client connections")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 30.0
    return args


def order_requests(port: int) -> Callable[[int], bytes]:
    """Request i: Shopify's documented orders/create body as order i of customer i, signed.

    The body is a template with markers replaced per request: the client stays light enough
    (a copy and a `json.dumps` of the 11.6 kB sample per request put it behind the pace)."""
    order = json.loads(SAMPLE.read_text())["response"]
    run = secrets.token_hex(3)
    # Placed now: a follow-up due more than a day before its order arrived would be skipped.
    order["created_at"] = order["updated_at"] = datetime.now(UTC).isoformat()
    order["id"], order["customer"]["id"] = ORDER_MARK, CUSTOMER_MARK
    order["email"] = order["contact_email"] = order["customer"]["email"] = (
        f"soak-{run}-{N_MARK}@x.org"
    )
    template = json.dumps(order).encode()
    host = f"127.0.0.1:{port}"

    def make(i: int) -> bytes:
        body = (
            template.replace(str(ORDER_MARK).encode(), str(10**12 + i).encode())
            .replace(str(CUSTOMER_MARK).encode(), str(2 * 10**12 + i).encode())
            .replace(N_MARK.encode(), str(i).encode())
        )
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": base64_hmac(SECRET, body),
            "X-Shopify-Webhook-Id": f"soak-{run}-{i}",
            "X-Shopify-Shop-Domain": SHOP,
        }
        return build_request(host, "/webhooks/shopify", body, headers)

    return make


COUNTS = """
SELECT (SELECT count(*) FROM inbox WHERE status = 'pending') AS inbox_pending,
       (SELECT count(*) FROM events WHERE status = 'pending') AS events_pending,
       (SELECT count(*) FROM events WHERE status = 'processed') AS processed
"""
OUTCOME = """
SELECT (SELECT count(*) FROM inbox WHERE status = 'normalised') AS normalised,
       (SELECT count(*) FROM inbox WHERE status <> 'normalised') AS not_normalised,
       (SELECT count(DISTINCT normalised_at) FROM inbox) AS batches,
       (SELECT count(*) FROM events WHERE status = 'failed') AS events_failed,
       (SELECT count(*) FROM customers WHERE orders_count = 1) AS customers_with_facts,
       (SELECT count(*) FROM deliveries WHERE status = 'scheduled') AS scheduled
"""


@dataclass(frozen=True)
class Soak:
    load: LoadResult
    processed_in_load: int  # events processed by the time the last answer came
    drain_s: float  # from the last answer until nothing was pending
    worker_cpu_s: float
    web_cpu_s: float
    outcome: dict[str, int]
    peak_backlog: int


def counts(database_url: str) -> dict[str, int]:
    with get_engine(database_url).connect() as conn:
        return dict(conn.execute(text(COUNTS)).mappings().one())


def outcome_now(database_url: str) -> dict[str, int]:
    with get_engine(database_url).connect() as conn:
        return dict(conn.execute(text(OUTCOME)).mappings().one())


class Backlog(threading.Thread):
    """Samples the pending rows once a second while the load runs: the peak backlog."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url, self.peak, self.stop = database_url, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            now = counts(self.database_url)
            self.peak = max(self.peak, now["inbox_pending"] + now["events_pending"])


def soak(args: argparse.Namespace, env: dict[str, str], database_url: str, logs: Path) -> Soak:
    port = free_port()
    names = ("web", "worker", "clock")
    LOGS.update({name: logs / f"{name}.log" for name in names})
    with procfile.running(names, env=env | {"PORT": str(port)}, logs=logs) as started:
        procfile.wait_for_port(port, started["web"], logs / "web.log")
        run_load("127.0.0.1", port, signed_requests(port, 200), connections=8)  # warm-up
        _wait_drained(database_url, started["worker"], timeout_s=60)
        base = counts(database_url)["processed"]
        before = outcome_now(database_url)
        cpu = {name: procfile.group_cpu_s(started[name].pid) for name in ("worker", "web")}
        sampler = Backlog(database_url)
        sampler.start()
        count = int(args.rate * args.seconds)
        load = run_stream(
            "127.0.0.1", port, order_requests(port), count=count, rate=args.rate,
            connections=args.connections,
        )  # fmt: skip
        ended = time.monotonic()
        in_load = counts(database_url)["processed"] - base
        sampler.stop.set()
        drained = _wait_drained(database_url, started["worker"], timeout_s=DRAIN_TIMEOUT_S)
        worker_cpu = procfile.group_cpu_s(started["worker"].pid) - cpu["worker"]
        web_cpu = procfile.group_cpu_s(started["web"].pid) - cpu["web"]
        after = outcome_now(database_url)
        outcome = {key: after[key] - before[key] for key in after}
    return Soak(load, in_load, drained - ended, worker_cpu, web_cpu, outcome, sampler.peak)


def _wait_drained(database_url: str, worker: subprocess.Popen[bytes], *, timeout_s: float) -> float:
    """Polls until no inbox row and no event is pending; returns when that was seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = counts(database_url)
        if now["inbox_pending"] == 0 and now["events_pending"] == 0:
            return time.monotonic()
        if worker.poll() is not None or time.monotonic() > deadline:
            logs = "\n".join(f"{name}:\n{tail(log)}" for name, log in LOGS.items())
            raise BenchError(f"the backlog did not drain: {now}\n{logs}")
        time.sleep(0.05)


def bare_fastapi(env: dict[str, str], logs: Path, connections: int) -> LoadResult:
    """The bare endpoint in one uvicorn process, as the Procfile runs `web`, at full speed."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.bare_webhook:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    with (logs / "bare.log").open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        procfile.wait_for_port(port, process, logs / "bare.log")
        run_load("127.0.0.1", port, signed_requests(port, 500), connections=connections)
        return run_load(
            "127.0.0.1", port, signed_requests(port, BARE_REQUESTS), connections=connections
        )
    finally:
        stop_group(process)


def run(args: argparse.Namespace, console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="ladder-soak-") as tmp, bench_services() as svc:
        work = Path(tmp)
        (work / "triggers").mkdir()
        (work / "triggers" / "soak.toml").write_text(TRIGGER_TOML, encoding="utf-8")
        env = dict(os.environ)
        env.update(
            DATABASE_URL=svc.database_url, REDIS_URL=svc.redis_url, SHOPIFY_WEBHOOK_SECRETS=SECRET,
            SHOPIFY_SHOP_DOMAIN=SHOP, LADDER_SECRET_KEY=secrets.token_urlsafe(32),
            LADDER_API_TOKEN=secrets.token_urlsafe(24), SPOOL_DIR=str(work / "spool"),
            OUTBOX_DIR=str(work / "outbox"), TRIGGERS_DIR=str(work / "triggers"),
            EMAIL_BACKEND="file", dramatiq_worker_timeout="100",
            DEFAULT_CURRENCY="USD",  # Shopify's sample order is a US shop's
        )  # fmt: skip
        os.environ.update(env)  # the no-op actor reads REDIS_URL at import
        machine = this_machine(redis=svc.redis_version, postgres=svc.postgres_version)
        bare_web = bare_fastapi(env, work, args.connections)
        bare_queue = measure_noop(
            redis_url=svc.redis_url, messages=BARE_MESSAGES, threads=8, env=env, workdir=work
        )
        result = soak(args, env, svc.database_url, work)
    report(console, args, machine.describe(), machine.load_before, bare_web, bare_queue, result)


def report(
    console: Console,
    args: argparse.Namespace,
    machine: str,
    load_before: float,
    bare_web: LoadResult,
    bare_queue: Measurement,
    soak: Soak,
) -> None:
    load, accepted = soak.load, soak.load.accepted
    processed = soak.outcome["normalised"]
    table = Table(title=f"Webhook soak: {args.rate:.0f}/s for {args.seconds:.0f} s", width=80)
    for column, justify in (("what", "left"), ("figure", "right"), ("bare", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_row("sent / answered 200", f"{load.sent:,} / {accepted:,}", "")
    table.add_row(
        "accepted/s (bare: full speed)", f"{load.per_second:,.0f}", f"{bare_web.per_second:,.0f}"
    )
    table.add_row("p99 answer ms", f"{load.percentile_ms(0.99):.1f}", "")
    table.add_row(
        "processed/s during the load (bare: msg/s)",
        f"{soak.processed_in_load / load.seconds:,.0f}",
        f"{bare_queue.per_second:,.0f}",
    )
    table.add_row("peak backlog (pending rows)", f"{soak.peak_backlog:,}", "")
    table.add_row("drain after the load stopped s", f"{soak.drain_s:.1f}", "")
    cpu_ms = 1000 * soak.worker_cpu_s / max(processed, 1)
    bare_cpu = bare_queue.cpu_ms_per_item
    table.add_row("worker CPU ms/webhook (bare: ms/msg)", f"{cpu_ms:.2f}", f"{bare_cpu or 0:.2f}")
    table.add_row("web CPU ms/webhook", f"{1000 * soak.web_cpu_s / max(accepted, 1):.2f}", "")
    out = soak.outcome
    table.add_row("inbox normalised / not", f"{processed:,} / {out['not_normalised']:,}", "")
    per_batch = processed / max(out["batches"], 1)  # a batch's rows share their normalised_at
    table.add_row("inbox rows per normalise_batch", f"{per_batch:.1f}", "")
    table.add_row("customers with facts", f"{out['customers_with_facts']:,}", "")
    table.add_row("deliveries scheduled", f"{out['scheduled']:,}", "")
    table.add_row("events failed", f"{out['events_failed']:,}", "")
    console.print(table)
    console.print(f"{machine}; load average at the start {load_before:.2f}")
    kept_up = soak.drain_s <= TARGET_DRAIN_S and accepted == load.sent
    complete = processed == accepted and out["scheduled"] >= accepted
    verdict = "met" if kept_up else "NOT met"
    console.print(f"target: drained within {TARGET_DRAIN_S:.0f} s: {verdict}")
    console.print(f"every accepted webhook processed: {'yes' if complete else 'NO'}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=80)
    try:
        run(args, console)
    except BenchError as exc:
        console.print("[red]bench failed:[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
