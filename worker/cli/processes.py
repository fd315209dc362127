"""`ladder run`, `ladder clock`, `ladder db upgrade`: the processes an operator starts."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
import uvicorn

from models import migrate
from worker.cli.output import console, fail, setup_logging
from worker.metrics import exposition
from worker.metrics.gauges import DatabaseGauges
from worker.queue import clock
from worker.queue.allinone import running_clock, running_worker
from worker.runtime import get_runtime
from worker.settings import get_settings
from worker.web import create_app

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (Procfile `release`)."""
    url = get_settings().database_url
    migrate.upgrade(url)
    console.print(f"database at revision [bold]{migrate.current(url)}[/bold]")


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: Annotated[
        int, typer.Option(min=1, max=64, help="worker threads; SQLite gains little past 2")
    ] = 2,
) -> None:
    """The embedded all-in-one process: web, worker threads and the clock."""
    setup_logging()
    runtime = get_runtime()
    migrate.upgrade(runtime.settings.database_url)
    runtime.triggers  # noqa: B018  (fail now, naming the file, if a trigger is invalid)
    runtime.broadcasts  # noqa: B018  (and a broadcast or series file)
    runtime.series  # noqa: B018
    with running_worker(threads), running_clock(runtime):
        uvicorn.run(create_app(runtime.settings), host=host, port=port, log_level="info")


def run_clock() -> None:
    """The clock process: due deliveries, the relays, daily segments. One leads."""
    setup_logging()
    if not get_settings().broker_address:
        fail(
            "the clock needs BROKER_URL (RabbitMQ or Redis) or REDIS_URL",
            hint="Without a shared broker no worker would get its messages. On one machine,"
            " `ladder run` runs web, worker and clock together.",
            code=2,
        )
    runtime = get_runtime()
    # A broadcast or series file the clock cannot read would fail every tick: refuse to start,
    # naming it.
    runtime.broadcasts  # noqa: B018
    runtime.series  # noqa: B018
    settings = runtime.settings
    if settings.clock_metrics_port is not None:
        gauges = DatabaseGauges(
            settings.database_url,
            backend=settings.email_backend.value,
            leader_lease=clock.LEADER_LEASE,
        )
        host, port = settings.clock_metrics_host, settings.clock_metrics_port
        exposition.serve(exposition.Scrape(gauges), host=host, port=port)
        console.print(f"clock metrics on http://{host}:{port}/metrics")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    clock.run(runtime, stop)
