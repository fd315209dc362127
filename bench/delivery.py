"""`make bench` (delivery): emails/s from the queue to a SendGrid stand-in through the real
client, one worker process, beside a no-op Dramatiq actor on the same Redis in the same run.

    python -m bench.delivery [--emails 3000] [--threads 8] [--in-flight 32] [--round-trip-ms 50]

With `--round-trip-ms` the stand-in speaks TLS behind a relay that delays each direction by
half of it (`bench/wan.py`), as SendGrid does from a data centre away, and the run adds the
bare component at that distance: a pooled keep-alive client sending the same requests with as
many open at once as the worker may have (`--in-flight`, its DELIVERY_IN_FLIGHT), on as many
threads, in its own process (`bench/bare_client.py`). Target there: ≥ 400 emails/s, at least
0.8 of the bare client's rate.

The deliveries are written due into a scratch PostgreSQL database first (not timed), then
handed to the worker as the pipeline and the clock's relay hand them over
(`dispatch.deliveries`: `deliver_batch`, 100 ids a message): this measures delivering alone —
claim, eligibility, render, the HTTP request, record.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select
from sqlmodel import col

from bench.baseline import measure_noop
from bench.harness import (
    BenchError,
    Services,
    bench_services,
    cpu_seconds,
    cpu_spent,
    dramatiq_worker,
    wait_until,
    worker_child,
)
from bench.profiling import py_spy
from bench.report import Measurement, markdown, print_table, rows, this_machine
from bench.wan import remote_standin
from models import Delivery, DeliveryStatus
from models.db import session
from tests.support.deliveries import seed_due_deliveries, write_hello_message
from tests.support.sendgrid_standin import API_KEY, running_standin
from worker.settings import Settings

WARMUP_EMAILS = 50
POLL_S = 0.02


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__)
    parser.add_argument("--emails", type=int, default=3_000, help="deliveries to time")
    parser.add_argument("--threads", type=int, default=8, help="dramatiq --threads, both runs")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=Settings.model_fields["delivery_in_flight"].default,
        help="the worker's DELIVERY_IN_FLIGHT, and the bare client's threads",
    )
    parser.add_argument(
        "--round-trip-ms", type=float, default=0.0, help="TLS and this latency; 0: loopback"
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the worker during the timed run (.svg, .json, .txt)"
    )
    args = parser.parse_args(argv)
    if args.emails < 1 or args.threads < 1 or args.in_flight < 1 or args.round_trip_ms < 0:
        parser.error(
            "--emails, --threads and --in-flight must be at least 1, --round-trip-ms not negative"
        )
    return args


def bench_env(services: Services, standin_url: str, workdir: Path) -> dict[str, str]:
    triggers, templates = write_hello_message(workdir)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        EMAIL_BACKEND="sendgrid",
        SEND_WINDOW="",  # the bench times sending at any hour, not the wait for 09:00
        SENDGRID_API_KEY=API_KEY,
        SENDGRID_API_HOST=standin_url,
        TRIGGERS_DIR=str(triggers),
        TEMPLATES_DIR=str(templates),
        LADDER_SECRET_KEY=secrets.token_urlsafe(32),
        LADDER_API_TOKEN=secrets.token_urlsafe(24),
        no_proxy="127.0.0.1",
    )
    return env


def sent(database_url: str) -> int:
    with session(database_url) as db:
        count = db.scalar(select(func.count()).where(col(Delivery.status) == DeliveryStatus.SENT))
        return int(count or 0)


def provider_requests(metrics_dir: Path) -> tuple[float, float]:
    """(requests, seconds) the worker's `ladder_provider_request_seconds` counted so far."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    found = {"_count": 0.0, "_sum": 0.0}
    for metric in registry.collect():
        if metric.name == "ladder_provider_request_seconds":
            for sample in metric.samples:
                suffix = sample.name.removeprefix(metric.name)
                if suffix in found:
                    found[suffix] += sample.value
    return found["_count"], found["_sum"]


def measure_delivery(
    services: Services,
    *,
    emails: int,
    threads: int,
    env: dict[str, str],
    workdir: Path,
    profile: Path | None = None,
) -> Measurement:
    """Times `emails` deliveries from the first hand-over until the last row is `sent`."""
    from dramatiq.brokers.redis import RedisBroker

    from worker.queue import broker as broker_module

    broker_module.install(RedisBroker(url=services.redis_url))  # type: ignore[no-untyped-call]
    from worker.queue import dispatch

    due = datetime.now(UTC) - timedelta(minutes=1)
    with session(services.database_url) as db:
        warm = seed_due_deliveries(db, WARMUP_EMAILS, now=due, prefix="warm")
    log = workdir / "delivery-worker.log"
    metrics_dir = workdir / "worker-metrics"  # where the worker's counters are read after
    metrics_dir.mkdir()
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with dramatiq_worker(
        ["worker.queue.broker", "worker.queue.actors"], threads=threads, env=env, log=log
    ) as proc:
        with session(services.database_url) as db:
            dispatch.deliveries(db, warm)
        wait_until(
            lambda: sent(services.database_url) == WARMUP_EMAILS,
            timeout_s=60,
            interval_s=POLL_S,
            process=proc,
            log=log,
            what="warming up",
        )
        with session(services.database_url) as db:
            ids = seed_due_deliveries(db, emails, now=due, prefix="bench")[WARMUP_EMAILS:]
        child = worker_child(proc)
        cpu_before = cpu_seconds(child)
        requests_before = provider_requests(metrics_dir)
        with py_spy(child, profile) if profile else nullcontext():
            started = time.monotonic()
            with session(services.database_url) as db:
                dispatch.deliveries(db, ids)
            finished = wait_until(
                lambda: sent(services.database_url) == WARMUP_EMAILS + emails,
                timeout_s=max(120.0, emails / 20),
                interval_s=POLL_S,
                process=proc,
                log=log,
                what=f"sending {emails} emails",
            )
        cpu_used = cpu_spent(cpu_before, cpu_seconds(child))
        requests_after = provider_requests(metrics_dir)
    count = requests_after[0] - requests_before[0]
    seconds = requests_after[1] - requests_before[1]
    return Measurement(
        "Ladder: queue → SendGrid stand-in (202)", "emails", emails, finished - started, cpu_used,
        request_s=seconds / count if count else None,
    )  # fmt: skip


def measure_bare_client(
    url: str, *, requests: int, threads: int, env: dict[str, str]
) -> Measurement:
    """The pooled client alone, in its own process, against the same stand-in."""
    command = [sys.executable, "-m", "bench.bare_client", url, "--requests", str(requests)]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"the bare client failed:\n{done.stdout}{done.stderr}")
    found = json.loads(done.stdout.splitlines()[-1])
    return Measurement(
        "bare pooled client (urllib3) → stand-in", "requests", found["requests"],
        found["seconds"], found["cpu_s"], request_s=found["request_s"],
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = 120
    distant = args.round_trip_ms > 0
    try:
        with ExitStack() as stack:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ladder-bench-delivery-"))
            workdir = Path(tmp)
            services = stack.enter_context(bench_services())
            if distant:
                remote = stack.enter_context(
                    remote_standin(workdir, round_trip_ms=args.round_trip_ms)
                )
                standin, url = remote.standin, remote.url
            else:
                standin = stack.enter_context(running_standin(validate=False))
                url = standin.url
            env = bench_env(services, url, workdir)
            env["DELIVERY_IN_FLIGHT"] = str(args.in_flight)
            if distant:
                env["SSL_CERT_FILE"] = str(remote.ca_file)  # the throwaway certificate
            os.environ.update(env)  # this process enqueues as Ladder: the same settings
            machine = this_machine(redis=services.redis_version, postgres=services.postgres_version)
            baseline = measure_noop(
                redis_url=services.redis_url,
                messages=args.emails,
                threads=args.threads,
                env=env,
                workdir=workdir,
            )
            emails = measure_delivery(
                services,
                emails=args.emails,
                threads=args.threads,
                env=env,
                workdir=workdir,
                profile=args.profile,
            )
            accepted = len(standin.accepted_delivery_ids())
            bare = (
                [measure_bare_client(url, requests=args.emails, threads=args.in_flight, env=env)]
                if distant
                else []
            )
    except BenchError as exc:
        console.print("[red]bench failed:[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 1
    if accepted != WARMUP_EMAILS + args.emails:
        console.print(f"[red]the stand-in accepted {accepted} emails, not {args.emails}[/red]")
        return 1
    found = rows(baseline, [emails], bare)
    where = f"over TLS behind a {args.round_trip_ms:g} ms round trip" if distant else "on loopback"
    shape = (
        f"one worker process (dramatiq --processes 1 --threads {args.threads}, "
        f"DELIVERY_IN_FLIGHT={args.in_flight}), the pooled SendGrid client against a local "
        f"stand-in answering 202 {where} (no schema check), {args.emails:,} emails"
    )
    notes = [
        machine.describe(),
        shape,
        f"load average as the run started: {machine.load_before:.2f}",
    ]
    print_table(
        console, found, title="Ladder: deliveries → SendGrid, beside bare Dramatiq", notes=notes
    )
    if bare:
        ratio = emails.per_second / bare[0].per_second
        console.print(
            f"Ladder sends at {ratio:.2f} of the bare pooled client's rate at this distance"
        )
        if emails.request_s is not None and bare[0].request_s is not None:
            console.print(
                f"a request took {1000 * emails.request_s:.1f} ms on average in the worker, "
                f"{1000 * bare[0].request_s:.1f} ms from the bare client"
            )
    console.print("\nFor the README:\n")
    heading = f"`python -m bench.delivery` ({shape}; {machine.describe()}):"
    console.print(markdown(found, heading=heading), markup=False, highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
