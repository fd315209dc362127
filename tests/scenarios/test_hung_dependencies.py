"""A dependency that hangs (accepts, never answers) never holds a webhook past the platforms'
limits: a real uvicorn web answers each signed Shopify delivery within 2 s, spooling it when
PostgreSQL hangs, `POST /events` answers 503 with Retry-After, and once the dependency is back
every delivery is in the inbox, normalised, exactly once. On Redis and on RabbitMQ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlmodel import col, select

from models import Event, InboxItem, migrate
from models.db import get_engine, session
from tests.support import services
from tests.support.brokers import broker_at, drain
from tests.support.services import RedisServer
from tests.support.stall import StallingProxy, postgres_target, through
from tests.support.tcp_relay import address, on_port
from tests.support.waiting import wait_until
from tests.support.webhooks import SHOPIFY_SECRET, shopify_headers, shopify_payload
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.queue import clock
from worker.queue.allinone import installed
from worker.runtime import Runtime

# The platforms' documented samples are a dollar shop's orders.
pytestmark = [pytest.mark.commits, pytest.mark.timeout(150), pytest.mark.usefixtures("usd_shop")]

TOKEN = "test-api-token-" + "y" * 24
# Shopify gives up at 5 s; Ladder promises 2 s. A slower answer fails the request by timeout.
PLATFORM_TIMEOUT_S = 2.5
AN_EVENT = {
    "source": "api",
    "id": "during-the-outage",
    "type": "customer.created",
    "occurred_at": "2026-05-01T10:00:00+00:00",
    "customer": {"id": "c-1", "email": "c-1@example.com"},
}


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own: its tables may be locked, its proxy stalled."""
    with services.scratch_database(postgres_server) as url:
        migrate.upgrade(url)
        yield url
        get_engine(url).dispose()


class HangingBroker:
    """A broker server the test can hang (`hang()`: it accepts, never answers) and wake
    (`resume()`), at `url`."""

    def __init__(self, url: str, hang: Callable[[], None], resume: Callable[[], None]) -> None:
        self.url, self.hang, self.resume = url, hang, resume


@pytest.fixture(params=["redis", "rabbitmq"])
def hanging_broker(request: pytest.FixtureRequest) -> Iterator[HangingBroker]:
    """A redis-server of this test's own, stopped by SIGSTOP; or this worker's RabbitMQ virtual
    host behind a proxy that stops passing bytes (the server is shared: it keeps running),
    its queues purged first."""
    if request.param == "redis":
        with RedisServer() as server:
            assert server.process is not None
            process = server.process
            yield HangingBroker(
                server.url,
                lambda: process.send_signal(signal.SIGSTOP),
                lambda: process.send_signal(signal.SIGCONT),
            )
        return
    rabbitmq_url: str = request.getfixturevalue("rabbitmq_url")
    with StallingProxy(address(rabbitmq_url)) as proxy:
        url = on_port(rabbitmq_url, proxy.port)
        with installed(broker_at(url)) as broker:
            broker.flush_all()
        yield HangingBroker(url, proxy.stall, proxy.resume)


@pytest.fixture
def settled(
    database: str, hanging_broker: HangingBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """This process as worker and clock on the real database: what drains after the outage."""
    for name, value in {
        "DATABASE_URL": database,
        "BROKER_URL": hanging_broker.url,
        "SPOOL_DIR": str(tmp_path / "spool"),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "EXPORTS_DIR": str(tmp_path / "exports"),
        "EMAIL_BACKEND": "file",
    }.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    yield runtime_module.get_runtime()
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()


def start_web(
    database_url: str, broker_url: str, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = services.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "SPOOL_DIR": str(tmp_path / "spool"),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "EXPORTS_DIR": str(tmp_path / "exports"),
        "LADDER_API_TOKEN": TOKEN,
        "SHOPIFY_WEBHOOK_SECRETS": SHOPIFY_SECRET,
    }
    command = [sys.executable, "-m", "uvicorn", "worker.web:app", "--port", str(port)]
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [*command, "--no-access-log"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url), timeout_s=30, what="the web to start")
    return process, url


def readiness(url: str) -> int:
    return httpx.get(f"{url}/readyz", timeout=PLATFORM_TIMEOUT_S).status_code


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def order_webhook(n: int) -> tuple[bytes, dict[str, str]]:
    """A signed `orders/create` delivery for order `n`, its own webhook id."""
    payload = shopify_payload("orders/create")
    payload["id"] = 820982911946154000 + n
    body = json.dumps(payload).encode()
    return body, shopify_headers("orders/create", body, webhook_id=f"outage-{n}")


def post_webhooks(url: str, numbers: range) -> list[httpx.Response]:
    """Half one after another, half at once: each with the platform's patience, no more."""

    def post(n: int) -> httpx.Response:
        body, headers = order_webhook(n)
        with httpx.Client(timeout=PLATFORM_TIMEOUT_S) as client:
            return client.post(f"{url}/webhooks/shopify", content=body, headers=headers)

    ordered = list(numbers)
    half = len(ordered) // 2
    answers = [post(n) for n in ordered[:half]]
    with ThreadPoolExecutor(max_workers=len(ordered) - half) as pool:
        answers += list(pool.map(post, ordered[half:]))
    return answers


def committed(url: str, n: int) -> bool:
    [answer] = post_webhooks(url, range(n, n + 1))
    assert answer.status_code == 200, answer.text
    return answer.json().get("spooled") is not True


def settle(runtime: Runtime, expected: set[str]) -> None:
    """Clock and worker in this process until every expected delivery is normalised."""
    assert runtime.settings.broker_url is not None
    with installed(broker_at(runtime.settings.broker_url)) as broker:

        def done() -> bool:
            with session(runtime.settings.database_url) as db:
                clock.tick(db, now=datetime.now(UTC), runtime=runtime)
            drain(broker, ("events",))
            return normalised(runtime.settings.database_url) >= expected

        wait_until(done, timeout_s=60, interval_s=0.2, what="every delivery to be normalised")


def normalised(database_url: str) -> set[str]:
    with session(database_url) as db:
        query = select(InboxItem.dedupe_key).where(col(InboxItem.status) == "normalised")
        return set(db.execute(query).scalars())


def assert_each_landed_once(runtime: Runtime, numbers: range) -> None:
    with session(runtime.settings.database_url) as db:
        keys = list(db.execute(select(InboxItem.dedupe_key)).scalars())
        orders = list(
            db.execute(
                select(Event.source_event_id).where(col(Event.type) == "order.placed")
            ).scalars()
        )
        # What the webhooks told; Ladder's own events (a move on the ladder) wait for the
        # clock's relay, which these runs do not tick.
        told = select(Event.status).where(col(Event.source) != "ladder")
        statuses = Counter(db.execute(told).scalars())
    assert Counter(keys) == Counter(f"outage-{n}" for n in numbers)
    assert len(orders) == len(numbers) == len(set(orders))
    assert set(statuses) == {"processed"}, statuses
    spool_dir = runtime.settings.spool_dir
    assert not spool_dir.exists() or list(spool_dir.iterdir()) == []


# Both hangs on Redis, the stalled server on RabbitMQ: a hang of the database is the same to
# either broker, which only carries the ids once it is back; a run costs some 15 s.
@pytest.mark.parametrize(
    ("hang", "hanging_broker"),
    [("stalled server", "redis"), ("tables locked", "redis"), ("stalled server", "rabbitmq")],
    indirect=["hanging_broker"],
)
def test_webhooks_are_spooled_within_2_s_while_postgresql_hangs_and_land_once_after(
    hang: str, database: str, hanging_broker: HangingBroker, settled: Runtime, tmp_path: Path
) -> None:
    with StallingProxy(postgres_target(database)) as proxy:
        web, url = start_web(through(database, proxy), hanging_broker.url, tmp_path)
        try:
            [before] = post_webhooks(url, range(0, 1))
            assert before.status_code == 200 and isinstance(before.json()["id"], int)

            locker = psycopg.connect(services.psycopg_url(database).replace("+psycopg", ""))
            if hang == "stalled server":
                proxy.stall()
            else:
                locker.execute("LOCK TABLE inbox, events IN ACCESS EXCLUSIVE MODE")
            try:
                during = post_webhooks(url, range(1, 13))
                events = httpx.post(
                    f"{url}/events",
                    json=AN_EVENT,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=5,
                )
                health = httpx.get(f"{url}/readyz", timeout=PLATFORM_TIMEOUT_S)
                alive = httpx.get(f"{url}/healthz", timeout=PLATFORM_TIMEOUT_S)
            finally:
                proxy.resume()
                locker.rollback()
                locker.close()
            assert [answer.status_code for answer in during] == [200] * 12
            assert {answer.json()["spooled"] for answer in during} == {True}
            assert events.status_code == 503, events.text
            assert int(events.headers["Retry-After"]) > 0
            assert (health.status_code, health.json()["database"]) == (503, "away")
            assert int(health.headers["Retry-After"]) > 0
            assert alive.status_code == 200  # no restart for a web that still spools webhooks

            # Back: the web commits again, and the clock moves the spool into the inbox.
            wait_until(lambda: committed(url, 13), timeout_s=30, what="the web to commit again")
            settle(settled, {f"outage-{n}" for n in range(14)})
        finally:
            web.terminate()
            web.wait(timeout=10)
    assert_each_landed_once(settled, range(14))


def test_webhooks_are_stored_within_2_s_while_the_broker_hangs_and_processed_once_after(
    database: str, hanging_broker: HangingBroker, settled: Runtime, tmp_path: Path
) -> None:
    web, url = start_web(database, hanging_broker.url, tmp_path)
    try:
        # Connected before it hangs: a connection open when the broker stops answering, as
        # well as new ones that cannot open.
        before = post_webhooks(url, range(0, 4))
        assert [answer.status_code for answer in before] == [200] * 4
        assert readiness(url) == 200
        hanging_broker.hang()
        try:
            during = post_webhooks(url, range(4, 16))
            events = httpx.post(
                f"{url}/events",
                json=AN_EVENT,
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=PLATFORM_TIMEOUT_S,
            )
            health = httpx.get(f"{url}/readyz", timeout=PLATFORM_TIMEOUT_S)
        finally:
            hanging_broker.resume()
        assert [answer.status_code for answer in during] == [200] * 12
        assert all(isinstance(answer.json()["id"], int) for answer in during)  # committed
        assert events.status_code == 202, events.text
        assert health.status_code == 503
        assert (health.json()["status"], health.json()["broker"]) == ("degraded", "away")
        settle(settled, {f"outage-{n}" for n in range(16)})
    finally:
        web.terminate()
        web.wait(timeout=10)
    assert_each_landed_once(settled, range(16))
