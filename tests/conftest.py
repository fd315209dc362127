"""Fixtures over the real things: Redis, RabbitMQ, SQLite and PostgreSQL, an in-process
worker."""

from __future__ import annotations

import os
import shutil

# Settings refuse a Redis deployment without secrets; tests run as one, with throwaway secrets.
os.environ.setdefault("LADDER_SECRET_KEY", "test-secret-key-" + "x" * 32)
os.environ.setdefault("LADDER_API_TOKEN", "test-api-token-" + "y" * 24)
# Tests that read the wall clock must not depend on the hour they run at: no quiet hours unless
# a test asks for them (tests of quiet hours build their Settings with a send_window).
os.environ.setdefault("SEND_WINDOW", "")
# Tests run PostgreSQL and Redis deployments with the demo's shop identity (tests of the
# production checks build their Settings with LADDER_ENV unset).
os.environ.setdefault("LADDER_ENV", "development")

from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from models import migrate
from models.db import get_engine, session
from tests.support import rabbitmq, services
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.delivery import pauses
from worker.queue import broker as broker_module
from worker.queue.allinone import installed
from worker.runtime import Runtime

# Fixtures shared by modules that do not import them: Chromium for the pages people look at.
pytest_plugins = ["tests.support.browser"]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when set (each pytest-xdist worker on a database of its own: tests flush
    theirs), else a private server for this session."""
    if os.environ.get("REDIS_URL"):
        yield services.redis_database_for_worker(os.environ["REDIS_URL"])
        return
    with services.private_redis() as url:
        yield url


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this pytest-xdist worker's own, on RABBITMQ_URL's server, the
    one on 127.0.0.1:5672, or a private server for this session (`tests/support/rabbitmq.py`)."""
    with rabbitmq.rabbitmq_for_session() as url:
        yield url


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each test that asks for a broker server runs twice: on Redis and on RabbitMQ."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """TEST_DATABASE_URL when set, else a private server for this session: where a test's
    databases are created."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with services.private_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The session's PostgreSQL database, migrated to head."""
    with services.scratch_database(postgres_server) as url:
        migrate.upgrade(url)
        yield url


# Tests whose code opens its own connections (a worker draining a broker, the web app, the CLI,
# the clock thread, a second session) must commit for those to see their rows; the others run
# in one transaction that is rolled back. A test asking for one of these fixtures commits.
COMMITTING_FIXTURES = frozenset({"stub_broker", "redis_broker", "rabbitmq_broker", "server_broker"})


def _commits(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("commits") is not None or bool(
        COMMITTING_FIXTURES.intersection(request.fixturenames)
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head per session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "ladder.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    get_engine(url).dispose()  # the last connection to close folds the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _written(url: str) -> tuple[list[str], list[str]]:
    """The tables holding rows and the sequences drawn from, in one round trip."""
    tables = [table.name for table in SQLModel.metadata.sorted_tables]
    probe = " UNION ALL ".join(f"(SELECT 't', '{name}' FROM {name} LIMIT 1)" for name in tables)
    probe += (
        " UNION ALL SELECT 's', sequencename::text FROM pg_sequences"
        " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
    )
    with get_engine(url).connect() as conn:
        found = conn.execute(text(probe)).all()
    return [name for kind, name in found if kind == "t"], [n for kind, n in found if kind == "s"]


def empty_postgres(url: str) -> None:
    """Deletes what a test left, children first, and restarts the sequences it drew from.

    Only when something was written, and DELETE rather than TRUNCATE: a dozen TRUNCATEs cost
    ~100 ms (each swaps the table's files), a DELETE of a few rows ~1 ms.
    """
    filled, sequences = _written(url)
    if not filled and not sequences:
        return
    order = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    statements = [f"DELETE FROM {name}" for name in order if name in filled]
    statements += [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
    with get_engine(url).begin() as conn:
        conn.exec_driver_sql("; ".join(statements))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """Each test that asks for a database runs twice: on SQLite and on PostgreSQL.

    SQLite: a copy of the session's migrated file. PostgreSQL: the session's database, left
    empty by the test before (every test empties it after itself).
    """
    if request.param == "sqlite":
        path = tmp_path / "ladder.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
        yield url
        get_engine(url).dispose()
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    empty_postgres(url)


@pytest.fixture
def db(request: pytest.FixtureRequest, database_url: str) -> Iterator[Session]:
    """A session on the test's database.

    On PostgreSQL, unless the test commits (see COMMITTING_FIXTURES and the `commits` marker),
    the session runs inside an outer transaction that is rolled back at the end (warehouse's
    `db_session`): its commits only release savepoints, and nothing is left to delete.
    """
    if database_url.startswith("sqlite") or _commits(request):
        with session(database_url) as db:
            yield db
        return
    with get_engine(database_url).connect() as conn:
        outer = conn.begin()
        with Session(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as db:
            yield db
        outer.rollback()


@pytest.fixture
def runtime(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """Settings for this test's database and outbox, seen by actors through get_runtime()."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    # Everything a test writes stays in its own folder, never in the checkout's var/.
    monkeypatch.setenv("EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.setenv("EMAIL_BACKEND", "file")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    pauses.forget_reads()  # a pause read in an earlier test, rolled back since
    yield runtime_module.get_runtime()
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    current_time.freeze(None)


@pytest.fixture
def usd_shop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shop that counts in dollars, as the platforms' documented samples do: in the default
    euro shop their orders would be refused, naming the currency. Use before `runtime`."""
    monkeypatch.setenv("DEFAULT_CURRENCY", "USD")


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    """A fresh in-process broker with the actors on it, as in the embedded mode."""
    with installed(StubBroker()) as broker:
        assert isinstance(broker, StubBroker)
        broker_module.mark_consumed_here(broker)
        yield broker
        broker.flush_all()


@pytest.fixture
def redis_broker(redis_url: str) -> Iterator[RedisBroker]:
    """A real Redis broker with the actors on it; the database is flushed before and after."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with installed(RedisBroker(url=redis_url)) as broker:  # type: ignore[no-untyped-call]
        assert isinstance(broker, RedisBroker)
        yield broker
    client.flushdb()


@pytest.fixture
def rabbitmq_broker(rabbitmq_url: str) -> Iterator[RabbitmqBroker]:
    """A real RabbitMQ broker (publisher confirms, as deployed) with the actors on it; its
    queues are purged before and after."""
    with installed(broker_module.rabbitmq_broker(rabbitmq_url, timeout_s=2.0)) as broker:
        assert isinstance(broker, RabbitmqBroker)
        broker.flush_all()
        yield broker
        broker.flush_all()


@pytest.fixture
def server_broker(request: pytest.FixtureRequest, broker_url: str) -> dramatiq.Broker:
    """The broker server `broker_url` names (Redis, then RabbitMQ), emptied, actors on it."""
    kind = "rabbitmq" if broker_url.startswith("amqp") else "redis"
    found: dramatiq.Broker = request.getfixturevalue(f"{kind}_broker")
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet, to migrate step by step."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ladder.db'}"
        yield url
        get_engine(url).dispose()
        return
    with services.scratch_database(request.getfixturevalue("postgres_server")) as url:
        yield url
        get_engine(url).dispose()
