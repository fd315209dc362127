"""`make bench`: events → emails end to end on Redis + PostgreSQL, beside a no-op Dramatiq actor.

Both run through one `dramatiq --processes 1` worker on the same Redis in the same run, so the
ratio between them is what Ladder costs over Dramatiq itself on this machine.

    python -m bench.pipeline [--events 5000] [--threads 8] [--profile prof.svg]

REDIS_URL and BENCH_DATABASE_URL (else TEST_DATABASE_URL, a server: the bench makes a scratch
database on it) are used when set; otherwise private servers start, as in the tests.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console

from bench.baseline import measure_noop
from bench.harness import BenchError, Services, bench_services
from bench.ladder import WARMUP_EVENTS, LadderRun, measure_ladder, write_triggers
from bench.report import (
    TARGET_EMAILS_PER_S,
    Machine,
    Measurement,
    markdown,
    print_table,
    rows,
    this_machine,
    write_json,
)
from triggers.programme import PROGRAMMES_DIR
from worker.settings import PROJECT_ROOT


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--events", type=int, default=5_000, help="events (= emails) to time")
    parser.add_argument("--threads", type=int, default=8, help="dramatiq --threads, both runs")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the Ladder worker during the timed run into this file (.svg, .json, .txt)",
    )
    parser.add_argument(
        "--programme",
        help="run this shipped loyalty programme (e.g. points-and-tiers): each order earns too",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.threads < 1:
        parser.error("--events and --threads must be at least 1")
    return args


# As the Procfile runs the worker: an empty queue is polled again within 100 ms, not after
# Dramatiq's back-off of up to a second, which left a batch-fed worker idle a fifth of the time.
WORKER_TIMEOUT_MS = "100"


def bench_env(services: Services, workdir: Path, programme: str | None = None) -> dict[str, str]:
    """The worker processes' environment: a production-shaped Ladder with the file backend
    (and the shipped loyalty `programme`, when named)."""
    triggers = write_triggers(workdir / "triggers")
    if programme is not None:
        shutil.copytree(PROJECT_ROOT / "triggers" / PROGRAMMES_DIR, triggers / PROGRAMMES_DIR)
    env = dict(os.environ)
    env.update(
        dramatiq_worker_timeout=WORKER_TIMEOUT_MS,
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        EMAIL_BACKEND="file",
        SEND_WINDOW="",  # the bench times sending at any hour, not the wait for 09:00
        OUTBOX_DIR=str(workdir / "outbox"),
        TRIGGERS_DIR=str(triggers),
        LADDER_SECRET_KEY=secrets.token_urlsafe(32),
        LADDER_API_TOKEN=secrets.token_urlsafe(24),
    )
    if programme is not None:
        env["LOYALTY_PROGRAMME"] = programme
    return env


def run(args: argparse.Namespace) -> tuple[Machine, Measurement, LadderRun]:
    with (
        tempfile.TemporaryDirectory(prefix="ladder-bench-") as tmp,
        bench_services() as services,
    ):
        workdir = Path(tmp)
        env = bench_env(services, workdir, args.programme)
        os.environ.update(env)  # this process enqueues as Ladder: the same settings
        machine = this_machine(redis=services.redis_version, postgres=services.postgres_version)
        baseline = measure_noop(
            redis_url=services.redis_url,
            messages=args.events,
            threads=args.threads,
            env=env,
            workdir=workdir,
        )
        ladder = measure_ladder(
            database_url=services.database_url,
            redis_url=services.redis_url,
            count=args.events,
            threads=args.threads,
            env=env,
            workdir=workdir,
            profile=args.profile,
        )
    return machine, baseline, ladder


def report(
    console: Console,
    args: argparse.Namespace,
    machine: Machine,
    baseline: Measurement,
    ladder: LadderRun,
) -> None:
    found = rows(baseline, [ladder.events, ladder.emails], [ladder.ingest, ladder.enqueue])
    emails_per_s = ladder.emails.per_second
    verdict = "met" if emails_per_s >= TARGET_EMAILS_PER_S else "NOT met"
    shape = (
        f"one worker process (dramatiq --processes 1 --threads {args.threads}), file backend, "
        f"{args.events:,} events for {args.events:,} customers after {WARMUP_EVENTS} warm-up"
        + (f", loyalty programme {args.programme} earning on each order" if args.programme else "")
    )
    notes = [machine.describe(), shape]
    for measured in (baseline, ladder.emails):
        if measured.worker_cpu_s is not None:
            busy = measured.worker_cpu_s / measured.seconds
            notes.append(f"{measured.component}: worker process busy {busy:.0%} of one core")
    if ladder.emails.worker_cpu_s is not None and ladder.worker_system_s is not None:
        system_ms = 1000 * ladder.worker_system_s / ladder.emails.items
        user_ms = 1000 * ladder.emails.worker_cpu_s / ladder.emails.items - system_ms
        notes.append(
            f"Ladder worker CPU per email: {user_ms:.2f} ms user + {system_ms:.2f} ms system"
        )
    notes.append(f"load average as the run started: {machine.load_before:.2f}")
    notes.append(f"target ≥ {TARGET_EMAILS_PER_S:.0f} emails/s: {verdict}")
    print_table(console, found, title="Ladder: events → emails, beside bare Dramatiq", notes=notes)
    path = write_json(
        found,
        machine=machine,
        extra={
            "events": args.events,
            "threads": args.threads,
            "warmup_events": WARMUP_EVENTS,
            "target_emails_per_s": TARGET_EMAILS_PER_S,
            "meets_target": emails_per_s >= TARGET_EMAILS_PER_S,
        },
    )
    console.print(f"\nwrote {path}", highlight=False)
    heading = f"`make bench` ({shape}; {machine.describe()}):"
    console.print("\nFor the README:\n")
    console.print(markdown(found, heading=heading), markup=False, highlight=False, soft_wrap=True)


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)  # unwinds the `with` blocks: workers and servers are stopped


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    console = Console()
    if not console.is_terminal:  # piped or in CI: wide enough for the table on one line a row
        console.width = 120
    try:
        machine, baseline, ladder = run(args)
    except BenchError as exc:
        console.print("[red]bench failed:[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 1
    report(console, args, machine, baseline, ladder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
