"""Prometheus sees every process the Procfile runs: the web's `/metrics`, the worker's
exporter (Dramatiq's middleware, with Ladder's counters summed over its processes) and the
clock's exporter port, while a signed webhook, a forged one and due deliveries go through."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import httpx
import pytest
from sqlalchemy import update

from models import Delivery, migrate
from models.db import get_engine, session
from tests.scenarios.test_private_logs import start, stop
from tests.support import services
from tests.support.deliveries import seed_due_deliveries, write_hello_message
from tests.support.scrapes import Samples, samples, value
from tests.support.waiting import wait_until
from tests.support.webhooks import SHOPIFY_SECRET, shopify_headers, shopify_payload

REPO_ROOT = Path(__file__).resolve().parents[2]
DUE = 3


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    with services.scratch_database(postgres_server) as url:
        migrate.upgrade(url)
        yield url
        get_engine(url).dispose()


def procfile_command(name: str) -> list[str]:
    """The Procfile's line for `name`, its leading VAR=value words left out (given as env)."""
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            words = shlex.split(line.partition(":")[2])
            return [word for word in words if "=" not in word.split("/")[0]]
    raise AssertionError(f"no {name} in the Procfile")


def scrape(url: str) -> Samples | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return samples(response.text) if response.status_code == 200 else None


def test_web_worker_and_clock_each_answer_a_scrape_with_what_they_did(
    database: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (emptied: no message of an earlier test)
    tmp_path: Path,
) -> None:
    triggers, templates = write_hello_message(tmp_path / "shop")
    with session(database) as db:
        seed_due_deliveries(db, DUE, now=datetime.now(UTC))
        db.execute(update(Delivery).values(enqueued_at=None))  # the clock's relay hands them on
        db.commit()
    web_port, worker_port, clock_port = (services.free_port() for _ in range(3))
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "BROKER_URL": broker_url,
        "EMAIL_BACKEND": "file",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "SPOOL_DIR": str(tmp_path / "spool"),
        "EXPORTS_DIR": str(tmp_path / "exports"),
        "TRIGGERS_DIR": str(triggers),
        "TEMPLATES_DIR": str(templates),
        "LADDER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
        "dramatiq_worker_timeout": "100",
        "WORKER_METRICS": "true",
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(worker_port),
        "dramatiq_prom_db": str(tmp_path / "prometheus"),
        "CLOCK_METRICS_PORT": str(clock_port),
        "CLOCK_METRICS_HOST": "127.0.0.1",
        "PYTHONPATH": str(REPO_ROOT),  # `ladder` runs this checkout's code, as uvicorn does
    }
    web = procfile_command("web")
    web[web.index("--host") + 1] = "127.0.0.1"
    web[web.index("--port") + 1] = str(web_port)
    worker = [*procfile_command("worker"), "--processes", "2", "--threads", "2"]
    clock = procfile_command("clock")
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "clock")}
    bin_dir = Path(sys.executable).parent
    processes = [
        start([str(bin_dir / command[0]), *command[1:]], env, logs[name])
        for name, command in (("web", web), ("worker", worker), ("clock", clock))
    ]

    def tails() -> str:
        return "\n".join(f"{name}:\n{log.read_text()[-1500:]}" for name, log in logs.items())

    try:
        web_url = f"http://127.0.0.1:{web_port}"
        wait_until(
            lambda: scrape(f"{web_url}/metrics") is not None,
            timeout_s=30,
            what="the web's /metrics",
            on_timeout=tails,
        )
        body = json.dumps(shopify_payload("customers/create")).encode()
        headers = shopify_headers("customers/create", body)
        assert httpx.post(f"{web_url}/webhooks/shopify", content=body, headers=headers).is_success
        forged = {**headers, "X-Shopify-Hmac-Sha256": "AAAA"}
        refused = httpx.post(f"{web_url}/webhooks/shopify", content=body, headers=forged)
        assert refused.status_code == 401

        def clock_leads() -> bool:
            scraped = scrape(f"http://127.0.0.1:{clock_port}/metrics")
            return scraped is not None and value(scraped, "ladder_clock_leading") == 1

        wait_until(clock_leads, timeout_s=30, what="the clock's exporter", on_timeout=tails)

        def worker_sent() -> bool:
            scraped = scrape(f"http://127.0.0.1:{worker_port}/metrics")
            return (
                scraped is not None
                and value(scraped, "ladder_deliveries_decided_total", status="sent") >= DUE
            )

        wait_until(worker_sent, timeout_s=60, what="the worker's exporter", on_timeout=tails)
        worker_scrape = scrape(f"http://127.0.0.1:{worker_port}/metrics")
        web_scrape = scrape(f"{web_url}/metrics")
        clock_scrape = scrape(f"http://127.0.0.1:{clock_port}/metrics")
    finally:
        for process in processes:
            stop(process)
    assert worker_scrape is not None and web_scrape is not None and clock_scrape is not None
    # The worker: Dramatiq's own metrics and Ladder's, summed over its two processes.
    batches = value(
        worker_scrape,
        "dramatiq_messages_total",
        queue_name="deliveries",
        actor_name="deliver_batch",
    )
    assert batches >= 1, sorted(name for name, _ in worker_scrape)
    sent = value(
        worker_scrape, "ladder_provider_request_seconds_count", provider="file", outcome="sent"
    )
    assert sent == value(worker_scrape, "ladder_deliveries_decided_total", status="sent") >= DUE
    # The web: its webhooks, and the database's gauges as the worker left them.
    shopify = {"platform": "shopify"}
    assert (
        value(web_scrape, "ladder_webhooks_total", **shopify, outcome="accepted", reason="stored")
        == 1
    )
    assert (
        value(web_scrape, "ladder_webhooks_total", **shopify, outcome="refused", reason="signature")
        == 1
    )
    assert value(web_scrape, "ladder_deliveries", status="sent") == sent
    assert value(web_scrape, "ladder_clock_leader") == 1
    # The clock: its leadership and the same gauges.
    assert value(clock_scrape, "ladder_clock_leader") == 1
    assert value(clock_scrape, "ladder_sending_paused", provider="file") == 0
