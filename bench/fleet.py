"""The Procfile's processes (`bench.procfile`) on servers of the run's own, which a run may
kill, stop or hang, one at a time.

`make chaos` (and any benchmark of the whole deployment) starts `web`, `worker` and `clock`
exactly as the Procfile says, on a private Redis and a private PostgreSQL (pgserver), never on
the machine's: hanging a server with SIGSTOP must disturb no one else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench import procfile
from bench.harness import BenchError, stop_group, tail
from models import migrate
from models.db import get_engine
from tests.support.services import RedisServer, free_port, private_postgres, scratch_database
from worker.settings import PROJECT_ROOT

STOP_TIMEOUT_S = 15.0


@dataclass
class Postgres:
    """A private PostgreSQL: `hang()` stops every one of its processes (connections stay open
    and every statement waits, as on a server that is wedged), `resume()` lets them go on."""

    url: str
    pid: int

    def processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(self.pid)
        return [postmaster, *postmaster.children(recursive=True)]

    def hang(self) -> None:
        for process in self.processes():
            with suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for process in self.processes():
            with suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


@dataclass
class Redis:
    """A private redis-server: `hang()`/`resume()` by SIGSTOP/SIGCONT; `stop()`/`start()` take
    it away and bring it back empty, as after a crash without persistence."""

    server: RedisServer

    @property
    def url(self) -> str:
        return self.server.url

    def _signal(self, number: signal.Signals) -> None:
        if self.server.process is not None:
            self.server.process.send_signal(number)

    def hang(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self.server.stop()

    def start(self) -> None:
        self.server.start()


@contextmanager
def private_servers() -> Iterator[tuple[Redis, Postgres]]:
    """A private Redis and a migrated scratch database on a private PostgreSQL."""
    with ExitStack() as stack:
        redis = Redis(stack.enter_context(RedisServer()))
        server_url = stack.enter_context(private_postgres())
        database_url = stack.enter_context(scratch_database(server_url))
        stack.callback(lambda: get_engine(database_url).dispose())
        migrate.upgrade(database_url)
        with get_engine(database_url).connect() as conn:
            pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        postmaster = psutil.Process(pid).parent()
        assert postmaster is not None
        postgres = Postgres(database_url, postmaster.pid)
        # A hung server must never outlive the run, whatever stops it.
        stack.callback(postgres.resume)
        stack.callback(redis.resume)
        yield redis, postgres


@dataclass
class Fleet:
    """The Procfile's processes, each in its own process group, logging into `folder`."""

    env: dict[str, str]
    folder: Path
    port: int = field(default_factory=free_port)
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, kind: str) -> Path:
        return self.folder / f"{kind}.log"

    def start(self, kind: str) -> None:
        command = procfile.commands([kind])[kind]
        env = {
            **self.env,
            "PORT": str(self.port),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}",
        }
        self.starts[kind] = self.starts.get(kind, 0) + 1
        with self.log(kind).open("ab") as out:
            self.running[kind] = subprocess.Popen(
                ["sh", "-c", command],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if kind == "web":
            self._wait_for_web()

    def kill(self, kind: str) -> None:
        """SIGKILL to the process group: the process and whatever it forked, mid-work."""
        process = self.running.pop(kind)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        for kind in list(self.running):
            stop_group(self.running.pop(kind))

    def check(self) -> None:
        """Raises BenchError, with its log's end, if a process exited on its own."""
        for kind, process in self.running.items():
            if process.poll() is not None:
                raise BenchError(f"{kind} exited ({process.returncode}):\n{tail(self.log(kind))}")

    def _wait_for_web(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.check()
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code < 500:
                    return
            time.sleep(0.1)
        raise BenchError(f"the web did not answer within 30 s:\n{tail(self.log('web'))}")


@contextmanager
def fleet(env: dict[str, str]) -> Iterator[Fleet]:
    with tempfile.TemporaryDirectory(prefix="ladder-fleet-") as folder:
        processes = Fleet(env, Path(folder))
        try:
            yield processes
        finally:
            processes.stop()
