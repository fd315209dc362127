"""`make chaos`: two scripted scenarios on the Procfile's processes (private Redis and
PostgreSQL, a SendGrid stand-in), then one table. Exits 1 if anything was lost, sent twice or
answered with a 5xx (a 503 with `Retry-After` to `POST /events` is the answer it should get
while the database is away, and is counted apart).

    python -m bench.chaos [--quick] [--deliveries 3000] [--kills 3] [--rate 60] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.chaos.kills import KillsResult, run_kills
from bench.chaos.outages import (
    SHOP,
    SHOPIFY_SECRET,
    TOKEN,
    OutagesResult,
    late_by_fault,
    run_outages,
)
from bench.fleet import fleet, private_servers
from bench.harness import BenchError
from tests.support.deliveries import write_hello_message
from tests.support.sendgrid_standin import API_KEY, running_standin
from worker.settings import Settings


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run: 600 emails, 30 s")
    parser.add_argument("--deliveries", type=int, default=3000, help="emails in the kills run")
    parser.add_argument("--kills", type=int, default=3, help="worker SIGKILLs in the kills run")
    parser.add_argument("--rate", type=float, default=60.0, help="requests/s in the outages run")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the stream")
    args = parser.parse_args(argv)
    if args.quick:
        args.deliveries, args.seconds = 600, 30.0
    if args.deliveries < 10 or args.kills < 0 or args.rate <= 0 or args.seconds < 28:
        parser.error("need --deliveries ≥ 10, --kills ≥ 0, --rate > 0 and --seconds ≥ 28")
    return args


def environment(
    redis_url: str, database_url: str, standin_url: str, folder: Path
) -> dict[str, str]:
    triggers, templates = write_hello_message(folder)
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMAIL_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_HOST": standin_url,
        "SEND_WINDOW": "",  # send at any hour: the run times failures, not the wait for 09:00
        "TRIGGERS_DIR": str(triggers),
        "TEMPLATES_DIR": str(templates),
        "SPOOL_DIR": str(folder / "spool"),
        "OUTBOX_DIR": str(folder / "outbox"),
        "EXPORTS_DIR": str(folder / "exports"),
        "LADDER_SECRET_KEY": secrets.token_urlsafe(32),
        "LADDER_API_TOKEN": TOKEN,
        "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
        "SHOPIFY_SHOP_DOMAIN": SHOP,
        "no_proxy": "127.0.0.1",
    }


def report(console: Console, kills: KillsResult, outages: OutagesResult) -> None:
    table = Table(title="make chaos", title_justify="left")
    for name in ("scenario", "items", "faults", "lost", "dup", "5xx", "late", "drain s"):
        table.add_column(name, justify="left" if name == "scenario" else "right")
    stream = outages.stream
    table.add_row(
        "kills (emails)",
        f"{kills.deliveries:,}",
        f"{kills.worker_kills + kills.clock_kills}",
        f"{kills.lost}",
        f"{kills.duplicates}",
        "—",
        "—",
        f"{kills.drain_s:.1f}",
    )
    table.add_row(
        "outages (requests)",
        f"{outages.webhooks + outages.events:,}",
        f"{len(outages.faults)}",
        f"{outages.lost}",
        f"{outages.duplicates}",
        f"{stream.failed}",
        f"{stream.late}",
        f"{outages.drain_s:.1f}",
    )
    console.print(table)
    settings = Settings()
    console.print(
        f"kills: {kills.worker_kills} worker SIGKILLs and {kills.clock_kills} of the clock; "
        f"SendGrid stand-in answering 30 % 500 and 10 % 429: {kills.requests:,} requests; "
        f"rows at the end: {dict(sorted(kills.statuses.items()))}.",
        highlight=False,
    )
    console.print(
        f"outages: {', '.join(outages.faults)}, {6:.0f} s each; "
        f"{stream.hostile} hostile bodies; answers: {dict(sorted(stream.answers.items()))}; "
        f"late answers by fault: {late_by_fault(stream) or 'none'}; "
        f"'late' = webhook answers over 2 s; 'drain' = from the stream's end until every "
        "accepted request is processed.",
        highlight=False,
    )
    console.print(
        f"settings: claim_timeout_s={settings.claim_timeout:g}, "
        f"requeue_after_s={settings.requeue_after_s:g}; "
        f"load average {os.getloadavg()[0]:.2f}.",
        highlight=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = 80
    try:
        with (
            tempfile.TemporaryDirectory(prefix="ladder-chaos-") as folder,
            private_servers() as (redis, postgres),
            running_standin(validate=False) as standin,
            Progress(console=console, transient=True) as progress,
        ):
            env = environment(redis.url, postgres.url, standin.url, Path(folder))
            with fleet(env) as processes:
                kills = run_kills(
                    processes,
                    standin,
                    database_url=postgres.url,
                    deliveries=args.deliveries,
                    worker_kills=args.kills,
                    progress=progress,
                )
            with fleet(env) as processes:
                outages = run_outages(
                    processes,
                    redis,
                    postgres,
                    rate=args.rate,
                    seconds=args.seconds,
                    progress=progress,
                )
    except BenchError as exc:
        console.print("[red]chaos could not finish:[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 2
    report(console, kills, outages)
    bad = kills.lost + kills.duplicates + outages.lost + outages.duplicates + outages.stream.failed
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
