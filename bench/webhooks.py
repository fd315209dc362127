"""`make bench`, webhook ingest: signed Shopify `orders/create` deliveries posted by a concurrent
client to Ladder's `web` (uvicorn, 2 workers, PostgreSQL, Redis) beside a bare FastAPI endpoint
doing the same HMAC check, in the same run. Accepted deliveries per second at full speed, and
p50/p99 latency when paced at a fixed rate.

    python -m bench.webhooks [--deliveries 10000] [--rate 1000] [--connections 32]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from bench.harness import BenchError, bench_services, stop_group, tail
from bench.load import LoadResult, build_request, run_load
from bench.report import this_machine
from models import InboxItem
from models.db import session
from tests.support.services import free_port
from worker.settings import PROJECT_ROOT

TARGET_PER_S = 2000.0
TARGET_P99_MS = 50.0
SECRET = "bench-shopify-secret"
SAMPLE = PROJECT_ROOT / "tests" / "fixtures" / "shopify" / "orders_create.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=10_000, help="per full-speed run")
    parser.add_argument("--rate", type=float, default=1000.0, help="deliveries/s, paced runs")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced runs")
    parser.add_argument("--connections", type=int, default=32, help="client keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn --workers, both servers")
    return parser.parse_args(argv)


def signed_requests(port: int, count: int) -> list[bytes]:
    """`count` deliveries of Shopify's documented orders/create body, each its own webhook id."""
    body = json.dumps(json.loads(SAMPLE.read_text())["response"]).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    host = f"127.0.0.1:{port}"
    return [
        build_request(
            host,
            "/webhooks/shopify",
            body,
            {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": signature,
                "X-Shopify-Webhook-Id": uuid.uuid4().hex,
                "X-Shopify-Shop-Domain": "bench.myshopify.com",
            },
        )
        for _ in range(count)
    ]


@contextmanager
def uvicorn(app: str, *, workers: int, env: dict[str, str], log: Path) -> Iterator[int]:
    """`uvicorn APP --workers N` on a free port, in its own process group; yields the port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--no-access-log"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for_port(port, process, log)
        yield port
    finally:
        stop_group(process)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"uvicorn exited ({process.returncode}):\n{tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"uvicorn did not listen on {port} within 30 s:\n{tail(log)}")


def measure(port: int, args: argparse.Namespace) -> tuple[LoadResult, LoadResult]:
    """A warm-up, a full-speed run, then a run paced at --rate."""
    run_load("127.0.0.1", port, signed_requests(port, 500), connections=args.connections)
    full = run_load(
        "127.0.0.1", port, signed_requests(port, args.deliveries), connections=args.connections
    )
    paced_count = int(args.rate * args.seconds)
    paced = run_load(
        "127.0.0.1",
        port,
        signed_requests(port, paced_count),
        connections=args.connections,
        rate=args.rate,
    )
    return full, paced


def stored(database_url: str) -> int:
    with session(database_url) as db:
        return int(db.execute(select(func.count()).select_from(InboxItem)).scalar_one())


def run(args: argparse.Namespace, console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="ladder-bench-web-") as tmp, bench_services() as svc:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=svc.database_url,
            REDIS_URL=svc.redis_url,
            SHOPIFY_WEBHOOK_SECRETS=SECRET,
            LADDER_SECRET_KEY=secrets.token_urlsafe(32),
            LADDER_API_TOKEN=secrets.token_urlsafe(24),
            SPOOL_DIR=str(Path(tmp) / "spool"),
        )
        machine = this_machine(redis=svc.redis_version, postgres=svc.postgres_version)
        with uvicorn(
            "bench.bare_webhook:app", workers=args.workers, env=env, log=Path(tmp) / "bare.log"
        ) as port:
            bare = measure(port, args)
        with uvicorn(
            "worker.web:app", workers=args.workers, env=env, log=Path(tmp) / "web.log"
        ) as port:
            ladder = measure(port, args)
        expected = 500 + args.deliveries + int(args.rate * args.seconds)
        rows_stored = stored(svc.database_url)
        redis.Redis.from_url(svc.redis_url).delete("dramatiq:events", "dramatiq:events.msgs")
    report(console, args, machine.describe(), bare, ladder, rows_stored, expected)


def report(
    console: Console,
    args: argparse.Namespace,
    machine: str,
    bare: tuple[LoadResult, LoadResult],
    ladder: tuple[LoadResult, LoadResult],
    rows_stored: int,
    expected: int,
) -> None:
    table = Table(
        title="Webhook ingest: signed Shopify orders/create, Ladder web beside bare FastAPI"
    )
    for column in (
        "server",
        "run",
        "sent",
        "accepted",
        "seconds",
        "accepted/s",
        "p50 ms",
        "p99 ms",
    ):
        table.add_column(column, justify="right" if column not in ("server", "run") else "left")
    for name, (full, paced) in (("bare FastAPI + HMAC", bare), ("Ladder web", ladder)):
        for label, result in (("full speed", full), (f"paced {args.rate:.0f}/s", paced)):
            table.add_row(
                name, label, f"{result.sent:,}", f"{result.accepted:,}", f"{result.seconds:.2f}",
                f"{result.per_second:,.0f}", f"{result.percentile_ms(0.5):.1f}",
                f"{result.percentile_ms(0.99):.1f}",
            )  # fmt: skip
    console.print(table)
    ratio = ladder[0].per_second / bare[0].per_second if bare[0].per_second else 0.0
    console.print(f"{machine}; uvicorn --workers {args.workers}; {args.connections} connections")
    console.print(f"Ladder / bare, full speed: {ratio:.3f}")
    console.print(f"inbox rows stored: {rows_stored:,} of {expected:,} deliveries sent to Ladder")
    speed = "met" if ladder[0].per_second >= TARGET_PER_S else "NOT met"
    p99 = "met" if ladder[1].percentile_ms(0.99) < TARGET_P99_MS else "NOT met"
    console.print(f"target ≥ {TARGET_PER_S:,.0f} accepted/s: {speed}")
    console.print(f"target p99 < {TARGET_P99_MS:.0f} ms at {args.rate:,.0f}/s: {p99}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = 120
    try:
        run(args, console)
    except BenchError as exc:
        console.print("[red]bench failed:[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
