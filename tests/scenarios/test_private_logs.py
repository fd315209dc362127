"""Logs carry ids, never a customer's address, name or IP, even when the database refuses a
statement full of them: the web, a worker and the clock as the Procfile runs them."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import httpx
import pytest
from sqlalchemy import create_engine

from models import migrate
from tests.support import services
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-api-token-0123456789abcdef"
# What must never reach a log line: in events, in the bodies the clock moves, in refused rows.
EMAIL, NAME, IP = "zoe.private@example.com", "Privatename", "81.2.69.160"

# The database refuses what each process writes: a CHECK whose error quotes the failing row,
# and a trigger that fails every insert (its statement's parameters are the customer's data).
REFUSALS = """
CREATE FUNCTION refuse_for_the_test() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'refused for the test'; END $$ LANGUAGE plpgsql;
ALTER TABLE customers ADD CONSTRAINT refused_for_the_test CHECK (false) NOT VALID;
CREATE TRIGGER refuse_for_the_test BEFORE INSERT ON inbox
    FOR EACH ROW EXECUTE FUNCTION refuse_for_the_test();
"""
REFUSE_EVENTS = """
CREATE TRIGGER refuse_for_the_test BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_for_the_test();
"""


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    with services.scratch_database(postgres_server) as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(REFUSALS)
        engine.dispose()
        yield url


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def spooled_webhook(spool_dir: Path) -> None:
    """A Shopify delivery the web spooled while the database was away, as the web writes it."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {"id": 7, "email": EMAIL, "customer": {"last_name": NAME}, "browser_ip": IP}
    ).encode()
    record = {
        "source": "shopify",
        "topic": "orders/create",
        "dedupe_key": "shopify:orders/create:7",
        "headers": {},
        "body": base64.b64encode(body).decode(),
        "received_at": datetime.now(UTC).isoformat(),
    }
    (spool_dir / "0001-test.json").write_text(json.dumps(record), encoding="utf-8")


def an_event(number: int) -> dict[str, object]:
    return {
        "id": f"signup-{number}",
        "type": "customer.created",
        "occurred_at": datetime.now(UTC).isoformat(),
        "customer": {"email": EMAIL, "first_name": "Zoë", "last_name": NAME},
        "data": {"ip": IP},
    }


# The formats on Redis, and JSON (the stricter: each line parsed) on RabbitMQ: what the broker
# changes is which library logs, not how a line is formatted; a run costs some 10 s.
@pytest.mark.parametrize(
    ("log_format", "broker_url"),
    [("text", "redis"), ("json", "redis"), ("json", "rabbitmq")],
    indirect=["broker_url"],
)
def test_database_errors_in_web_worker_and_clock_log_no_personal_data(
    database: str,
    broker_url: str,
    server_broker: dramatiq.Broker,  # noqa: ARG001  (emptied: no message of an earlier test)
    tmp_path: Path,
    log_format: str,
) -> None:
    """As text and as JSON lines (LOG_FORMAT=json: the refusal is a JSON line's message)."""
    port = services.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "BROKER_URL": broker_url,
        "EMAIL_BACKEND": "file",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "SPOOL_DIR": str(tmp_path / "spool"),
        "EXPORTS_DIR": str(tmp_path / "exports"),
        "LADDER_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "LADDER_API_TOKEN": TOKEN,
        "REQUEUE_AFTER_S": "2",
        "LOG_FORMAT": log_format,
    }
    spooled_webhook(tmp_path / "spool")
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "clock")}
    processes = [
        start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "worker.web:app",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "debug",
            ],
            env,
            logs["web"],
        ),
        start(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "worker.queue.broker",
                "worker.queue.actors",
                "--processes",
                "1",
                "--threads",
                "2",
                "--queues",
                "events",
                "deliveries",
            ],
            env,
            logs["worker"],
        ),
        start([str(Path(sys.executable).with_name("ladder")), "clock"], env, logs["clock"]),
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(url), timeout_s=30, what="the web to start")
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"})
        # The event is stored; the worker's insert of its customer is refused.
        assert client.post("/events", json=an_event(1)).status_code == 202
        engine = create_engine(database)
        with engine.begin() as conn:
            conn.exec_driver_sql(REFUSE_EVENTS)
        engine.dispose()
        # The web's insert of the next event is refused.
        refused = client.post("/events", json=an_event(2))
        assert refused.status_code in (500, 503), refused.text
        for name, marker in (
            ("web", "refused for the test"),
            ("worker", "refused_for_the_test"),
            ("clock", "refused for the test"),
        ):
            wait_until(
                lambda name=name, marker=marker: marker in logs[name].read_text("utf-8"),  # type: ignore[misc]
                timeout_s=60,
                what=f"the {name} to log the database's refusal",
            )
    finally:
        for process in processes:
            stop(process)
    for name, log in logs.items():
        written = log.read_text("utf-8")
        for secret in (EMAIL, NAME, IP):
            assert secret not in written, f"{name}'s log holds {secret!r}:\n{written[-3000:]}"
        if log_format == "json":
            lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
            assert {"time", "level", "logger", "message"} <= set(lines[0]), written[-3000:]
            marker = "refused_for_the_test" if name == "worker" else "refused for the test"
            assert any(marker in json.dumps(line) for line in lines), f"{name}:\n{written[-3000:]}"


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False
