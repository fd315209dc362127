"""`make bench` (scale-out): emails/s with 1, 2 and 3 worker processes sharing one database and
one Redis, to the SendGrid stand-in over TLS behind a 50 ms round trip, and where the CPU went:
the workers, the PostgreSQL backends serving them, Redis, and the machine as a whole.

    python -m bench.processes [--emails 3000] [--processes 1 2 3] [--round-trip-ms 50]

Each worker is the Procfile's (`dramatiq --processes 1 --threads 8`, DELIVERY_IN_FLIGHT 32). The
deliveries are written due first (not timed) and handed over as the relay does; the time runs
from the hand-over to the last row `sent`. A process per host is what the multi-host scenario
(tests/scenarios/test_hosts.py) runs; here they share this machine's two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import redis
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bench.delivery import WARMUP_EMAILS, bench_env, sent
from bench.harness import BenchError, bench_services, cpu_seconds, dramatiq_worker, worker_child
from bench.harness import wait_until as bench_wait
from bench.wan import remote_standin
from models.db import session
from tests.support.deliveries import seed_due_deliveries

THREADS = 8
IN_FLIGHT = 32


@dataclass(frozen=True)
class Run:
    processes: int
    emails: int
    seconds: float
    workers_cpu_s: float
    postgres_cpu_s: float
    redis_cpu_s: float
    machine_busy: float  # share of all cores busy during the run, every process on the machine

    @property
    def per_second(self) -> float:
        return self.emails / self.seconds


def postgres_backends(database_url: str) -> list[int]:
    """The pids of the server processes connected to this database now."""
    with session(database_url) as db:
        found = db.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        pids = [int(pid) for pid in found]
        db.rollback()
    return pids


def cpu_of(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(
    services_database: str, redis_url: str, env: dict[str, str], workdir: Path, *, processes: int,
    emails: int,
) -> Run:  # fmt: skip
    from worker.queue import dispatch  # on the broker `main` installed

    due = datetime.now(UTC) - timedelta(minutes=1)
    client = redis.Redis.from_url(redis_url)
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                dramatiq_worker(
                    ["worker.queue.broker", "worker.queue.actors"],
                    threads=THREADS,
                    env=env,
                    log=workdir / f"worker-{processes}-{n}.log",
                )
            )
            for n in range(processes)
        ]
        already = sent(services_database)
        with session(services_database) as db:
            warm = seed_due_deliveries(
                db, WARMUP_EMAILS * processes, now=due, prefix=f"w{processes}-"
            )
            dispatch.deliveries(db, warm)
        log = workdir / f"worker-{processes}-0.log"
        bench_wait(
            lambda: sent(services_database) == already + len(warm),
            timeout_s=120, interval_s=0.05, process=workers[0], log=log, what="warming up",
        )  # fmt: skip
        with session(services_database) as db:
            ids = seed_due_deliveries(db, emails, now=due, prefix=f"b{processes}-")
        children = [worker_child(worker) for worker in workers]
        backends = postgres_backends(services_database)
        before = (
            sum(cpu_seconds(pid) or 0.0 for pid in children), cpu_of(backends),
            redis_cpu(client), psutil.cpu_times(),
        )  # fmt: skip
        started = time.monotonic()
        with session(services_database) as db:
            dispatch.deliveries(db, ids)
        total = already + len(warm) + emails
        finished = bench_wait(
            lambda: sent(services_database) == total,
            timeout_s=max(120.0, emails / 20), interval_s=0.02, process=workers[0],
            log=log, what=f"sending {emails} emails",
        )  # fmt: skip
        after_times = psutil.cpu_times()
        busy = _busy(before[3], after_times)
        return Run(
            processes=processes,
            emails=emails,
            seconds=finished - started,
            workers_cpu_s=sum(cpu_seconds(pid) or 0.0 for pid in children) - before[0],
            postgres_cpu_s=cpu_of(backends) - before[1],
            redis_cpu_s=redis_cpu(client) - before[2],
            machine_busy=busy,
        )


def measure_alone(count: int, emails: int, round_trip_ms: float) -> Run:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ladder-procs-")))
        services = stack.enter_context(bench_services())
        remote = stack.enter_context(remote_standin(workdir, round_trip_ms=round_trip_ms))
        env = bench_env(services, remote.url, workdir)
        env["SSL_CERT_FILE"] = str(remote.ca_file)
        env["DELIVERY_IN_FLIGHT"] = str(IN_FLIGHT)
        os.environ.update(env)
        _install_broker(services.redis_url)
        return measure(
            services.database_url, services.redis_url, env, workdir, processes=count,
            emails=emails,
        )  # fmt: skip


def _install_broker(redis_url: str) -> None:
    """This process hands over on the workers' Redis, once for every run (a second broker
    installed over the first left the next run's messages where no worker looked)."""
    from dramatiq.brokers.redis import RedisBroker

    from worker.queue import broker as broker_module

    broker_module.install(RedisBroker(url=redis_url))  # type: ignore[no-untyped-call]


def _busy(before: object, after: object) -> float:
    """The share of the machine's CPU time spent busy between two `psutil.cpu_times()`."""
    idle = (getattr(after, "idle", 0.0) + getattr(after, "iowait", 0.0)) - (
        getattr(before, "idle", 0.0) + getattr(before, "iowait", 0.0)
    )
    total = sum(after) - sum(before)  # type: ignore[call-overload]
    return 0.0 if total <= 0 else 1 - idle / total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.processes", description=__doc__)
    parser.add_argument("--emails", type=int, default=3_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--round-trip-ms", type=float, default=50.0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a run of its own
    args = parser.parse_args(argv)
    console = Console()
    load = os.getloadavg()[0]
    runs: list[Run] = []
    try:
        if args.one is not None:  # one count, in a process of its own (below), as JSON
            print(json.dumps(asdict(measure_alone(args.one, args.emails, args.round_trip_ms))))
            return 0
        for count in args.processes:
            # Each count in a fresh process on fresh servers: the settings and clients a run
            # caches (its Redis, its database) are not the next one's.
            command = [sys.executable, "-m", "bench.processes", "--one", str(count)]
            command += ["--emails", str(args.emails), "--round-trip-ms", str(args.round_trip_ms)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise BenchError(
                    f"{count} process(es):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
            runs.append(Run(**json.loads(done.stdout.strip().splitlines()[-1])))
    except BenchError as exc:
        console.print("[red]bench failed:[/red]")
        console.print(str(exc), markup=False, highlight=False)
        return 1
    cores = psutil.cpu_count() or 1
    table = Table(title=f"Worker processes sharing one database ({args.round_trip_ms:g} ms away)")
    for heading in ("procs", "emails/s", "worker ms", "pg ms", "redis ms", "machine"):
        table.add_column(heading, justify="right")
    for run in runs:
        per = 1000 / run.emails
        table.add_row(
            str(run.processes),
            f"{run.per_second:,.0f}",
            f"{run.workers_cpu_s * per:.2f}",
            f"{run.postgres_cpu_s * per:.2f}",
            f"{run.redis_cpu_s * per:.2f}",
            f"{run.machine_busy:.0%} of {cores}",
        )
    console.print(table)
    console.print(
        f"CPU ms per email; machine: every process's share of the {cores} cores during the run. "
        f"Load average {load:.2f} as the run started."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
