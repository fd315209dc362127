"""The bench's services and processes: Redis, a scratch PostgreSQL database, dramatiq workers.

`REDIS_URL` and `BENCH_DATABASE_URL` (else `TEST_DATABASE_URL`) win when set; otherwise private
servers start on free ports, as in the tests. The database is always a new scratch database on
that server, dropped at the end: the bench never writes to an existing one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import text

from models import migrate
from models.db import get_engine
from tests.support.services import private_postgres, private_redis, scratch_database
from worker.settings import PROJECT_ROOT

STOP_TIMEOUT_S = 15.0
# Queues the bench consumes: a given Redis must have nothing waiting on them.
BENCH_QUEUES = ("events", "deliveries", "bench-noop")


class BenchError(Exception):
    """The bench cannot run or did not finish; the message says why."""


@dataclass(frozen=True)
class Services:
    redis_url: str
    database_url: str
    redis_version: str
    postgres_version: str


@contextmanager
def bench_services() -> Iterator[Services]:
    """Redis and a migrated scratch database; private servers stop when the block ends."""
    with ExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL") or stack.enter_context(private_redis())
        refuse_busy_redis(redis_url)
        server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if not server:
            server = stack.enter_context(private_postgres())
        database_url = stack.enter_context(scratch_database(server))
        stack.callback(lambda: get_engine(database_url).dispose())
        migrate.upgrade(database_url)
        yield Services(
            redis_url=redis_url,
            database_url=database_url,
            redis_version=_redis_version(redis_url),
            postgres_version=_postgres_version(database_url),
        )


def refuse_busy_redis(url: str) -> None:
    """A bench worker would consume someone else's messages: refuse a Redis with any waiting."""
    client = redis.Redis.from_url(url)
    for queue in BENCH_QUEUES:
        waiting = int(client.hlen(f"dramatiq:{queue}.msgs"))
        if waiting:
            raise BenchError(
                f"{url} has {waiting} messages on queue {queue!r}: point REDIS_URL at an idle "
                "Redis (or another database number, e.g. redis://…/15)"
            )


def _redis_version(url: str) -> str:
    info = redis.Redis.from_url(url).info("server")
    return str(info["redis_version"])


def _postgres_version(url: str) -> str:
    with get_engine(url).connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]


def outstanding(client: redis.Redis, queue: str) -> int:
    """Messages enqueued on `queue` and not yet acknowledged by a worker."""
    return int(client.hlen(f"dramatiq:{queue}.msgs"))


@contextmanager
def dramatiq_worker(
    modules: list[str], *, threads: int, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """One `dramatiq … --processes 1` in its own process group, killed with it at the end."""
    command = [sys.executable, "-m", "dramatiq", *modules, "--processes", "1"]
    command += ["--threads", str(threads), "--worker-shutdown-timeout", "5000"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's process group, then SIGKILL whatever is left of it."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)
    # The forked worker process may outlive a main process that was killed or timed out.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until(
    done: Callable[[], bool],
    *,
    timeout_s: float,
    interval_s: float,
    process: subprocess.Popen[bytes],
    log: Path,
    what: str,
) -> float:
    """Polls `done` until it holds; returns the monotonic time it was seen to hold.

    Raises BenchError, with the end of the worker's log, on timeout or if the worker exits.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if done():
            return time.monotonic()
        if process.poll() is not None:
            raise BenchError(f"the worker exited ({process.returncode}) {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:.0f} s {what}:\n{tail(log)}")
        time.sleep(interval_s)


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def worker_child(process: subprocess.Popen[bytes]) -> int | None:
    """The pid of the process dramatiq forked to consume (the one to profile), Linux only."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            # Fields after the parenthesised command name: state, ppid, …
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == process.pid:
                return int(stat.parent.name)
    return None


def cpu_seconds(pid: int | None, *, system_only: bool = False) -> float | None:
    """User + system (or only system) CPU time of one process so far, from /proc (Linux only)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of proc_pid_stat(5): indexes 11 and 12 after the name.
    ticks = int(fields[12]) if system_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before
