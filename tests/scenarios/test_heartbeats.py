"""`ladder status` lists the worker processes and clocks that run, from their heartbeats, says
which clock leads, and raises an alert when none does: the Procfile's processes, for real."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from typer.testing import CliRunner

from models import migrate
from tests.scenarios.test_private_logs import start, stop
from tests.support import services
from tests.support.waiting import wait_until
from worker import settings as settings_module
from worker.cli import app

LADDER = str(Path(sys.executable).with_name("ladder"))


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    with services.scratch_database(postgres_server) as url:
        migrate.upgrade(url)
        yield url


def status(env: dict[str, str], *flags: str) -> str:
    """`ladder status` as the operator runs it, on the processes' database (in this process:
    a command's start-up takes seconds on a loaded machine)."""
    settings_module.get_settings.cache_clear()
    done = CliRunner().invoke(app, ["status", *flags], env={"DATABASE_URL": env["DATABASE_URL"]})
    settings_module.get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    return done.output


def report(env: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(status(env, "--json")))


def alive(env: dict[str, str]) -> set[str]:
    return {item["kind"] for item in report(env)["processes"] if item["alive"]}


def test_status_lists_the_running_worker_and_clock_and_alerts_when_no_clock_leads(
    database: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (emptied: no message of an earlier test)
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "BROKER_URL": broker_url,
        "EMAIL_BACKEND": "file",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "SPOOL_DIR": str(tmp_path / "spool"),
        "LADDER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "LADDER_API_TOKEN": "test-api-token-0123456789abcdef",
        "CLOCK_TICK_S": "0.5",
    }
    worker = start(
        [sys.executable, "-m", "dramatiq", "worker.queue.broker", "worker.queue.actors",
         "--processes", "1", "--threads", "2"],
        env, tmp_path / "worker.log",
    )  # fmt: skip
    clock = start([LADDER, "clock"], env, tmp_path / "clock.log")
    try:
        wait_until(lambda: alive(env) == {"worker", "clock"}, timeout_s=60,
                   what="the worker's and the clock's beats")  # fmt: skip
        found = report(env)
        assert found["clock"]["leading"] is True
        assert found["clock"]["holder"].startswith(found["processes"][0]["process"].split(":")[0])
        shown = status(env)
        assert "leads (lease until" in shown and "alive" in shown

        stop(clock)  # SIGTERM: it gives up the lease and takes its row away
        wait_until(lambda: not report(env)["clock"]["leading"], timeout_s=30,
                   what="the clock's lease to go")  # fmt: skip
        assert alive(env) == {"worker"}
        assert "ALERT: no clock leads" in status(env)
    finally:
        stop(clock)
        stop(worker)
    # A worker that stops cleanly takes its row away; one killed (stop's SIGKILL after 15 s on
    # a loaded machine) reads as stopped once three beats are missed.
    wait_until(lambda: alive(env) == set(), timeout_s=60, what="the worker to read as stopped")
