"""Fixtures over the real things: Redis, SQLite and PostgreSQL, an in-process worker."""

from __future__ import annotations

import os

# Settings refuse a Redis deployment without secrets; tests run as one, with throwaway secrets.
os.environ.setdefault("LADDER_SECRET_KEY", "test-secret-key-" + "x" * 32)
os.environ.setdefault("LADDER_API_TOKEN", "test-api-token-" + "y" * 24)
# Tests that read the wall clock must not depend on the hour they run at: no quiet hours unless
# a test asks for them (tests of quiet hours build their Settings with a send_window).
os.environ.setdefault("SEND_WINDOW", "")

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from models import migrate
from models.db import get_engine, session
from tests.support import services
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.queue import broker as broker_module
from worker.queue.allinone import installed
from worker.runtime import Runtime


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with services.private_redis() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        with services.scratch_database(given) as url:
            migrate.upgrade(url)
            yield url
        return
    with services.private_postgres() as server, services.scratch_database(server) as url:
        migrate.upgrade(url)
        yield url


def _truncate(url: str) -> None:
    tables = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that asks for a database runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ladder.db'}"
        migrate.upgrade(url)
        yield url
        get_engine(url).dispose()
        return
    url = request.getfixturevalue("postgres_url")
    _truncate(url)
    yield url
    _truncate(url)


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    with session(database_url) as db:
        yield db


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
    monkeypatch.setenv("EMAIL_BACKEND", "file")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    yield runtime_module.get_runtime()
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    current_time.freeze(None)


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
