"""The web process's group INSERT on PostgreSQL: one statement, duplicates skipped, rows read
back exactly as the ORM would have stored them, a database away raised for the spool, and its
connection closed with the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from models import InboxItem
from models.db import get_engine, session
from tests.support.services import free_port
from tests.support.waiting import wait_until
from tests.support.web import TestClient
from tests.support.webhooks import shopify_headers, shopify_payload, with_secrets
from worker.intake import inbox
from worker.intake.async_insert import (
    APPLICATION_NAME,
    DATABASE_AWAY,
    MAX_ROWS,
    UNAVAILABLE,
    PostgresInbox,
)
from worker.intake.groupcommit import GroupCommit
from worker.runtime import Runtime
from worker.sources import Verified
from worker.web import create_app

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
BODY = '{"id": 1, "name": "Zoë"}'.encode()


@pytest.fixture
def empty_inbox(postgres_url: str) -> Iterator[str]:
    with get_engine(postgres_url).begin() as conn:
        conn.execute(text("TRUNCATE inbox RESTART IDENTITY CASCADE"))
    yield postgres_url


def row(key: str) -> dict[str, object]:
    verified = Verified("orders/create", key, {"x-shopify-topic": "orders/create"})
    # Given in another offset: stored as the same instant.
    when = T0.astimezone(timezone(timedelta(hours=2)))
    return inbox.row_for("shopify", verified, BODY, now=when)


def test_a_group_is_stored_once_per_key_and_reads_back_as_given(empty_inbox: str) -> None:
    writer = PostgresInbox(empty_inbox)

    async def scenario() -> tuple[list[int | None], list[int | None]]:
        first = await writer.store_rows([row("a")])
        second = await writer.store_rows([row("b"), row("a"), row("c"), row("b")])
        await writer.close()
        return first, second

    first, second = asyncio.run(scenario())
    with session(empty_inbox) as db:
        stored = db.exec(select(InboxItem).order_by(col(InboxItem.id))).all()
    ids = {item.dedupe_key: item.id for item in stored}
    assert sorted(ids) == ["a", "b", "c"]
    assert first == [ids["a"]]
    # "a" was stored before, the second "b" is a repeat within the same group.
    assert second == [ids["b"], None, ids["c"], None]
    expected = row("a")
    for item in stored:
        assert item.headers == expected["headers"]
        assert item.body == expected["body"]
        assert item.received_at == T0
        assert (item.status, item.enqueued_at, item.events, item.attempts) == (
            "pending",
            None,  # no consumer in this process
            0,
            0,
        )


def test_a_group_larger_than_one_statement_takes_is_stored_whole(empty_inbox: str) -> None:
    # What is tested is the split into statements, not the web's 1.5 s budget: on a machine
    # whose load reached 25 the default timed the three statements out.
    writer = PostgresInbox(empty_inbox, timeout_s=30.0)
    keys = [f"k{n}" for n in range(2 * MAX_ROWS + 1)]

    async def scenario() -> list[int | None]:
        try:
            return await writer.store_rows([row(key) for key in keys])
        finally:
            await writer.close()

    ids = asyncio.run(scenario())
    with session(empty_inbox) as db:
        stored = {item.dedupe_key: item.id for item in db.exec(select(InboxItem))}
    assert ids == [stored[key] for key in keys]


def test_a_database_away_raises_what_the_route_spools_on() -> None:
    writer = PostgresInbox(
        f"postgresql+psycopg://ladder@127.0.0.1:{free_port()}/x?connect_timeout=2"
    )
    with pytest.raises(UNAVAILABLE):
        asyncio.run(writer.store_rows([row("a")]))


def test_the_web_app_closes_its_webhook_connection_when_it_stops(
    empty_inbox: str,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (no Redis here)
) -> None:
    settings = with_secrets(runtime.settings, database_url=empty_inbox)
    body = json.dumps(shopify_payload("orders/create")).encode()
    with TestClient(create_app(settings)) as client:
        headers = shopify_headers("orders/create", body, webhook_id="w-1")
        assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 200
        assert webhook_connections(empty_inbox) == 1
    # The server ends the backend a moment after the client closes its socket.
    wait_until(
        lambda: webhook_connections(empty_inbox) == 0,
        timeout_s=10,
        what="the webhook connection to leave pg_stat_activity",
        on_timeout=lambda: f"{webhook_connections(empty_inbox)} still open",
    )


def webhook_connections(url: str) -> int:
    with get_engine(url).connect() as conn:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
        return int(conn.execute(query, {"name": APPLICATION_NAME}).scalar_one())


def test_one_row_the_database_refuses_fails_alone_and_the_rest_of_its_group_is_stored(
    empty_inbox: str,
) -> None:
    writer = PostgresInbox(empty_inbox)
    handed: list[int] = []
    group = GroupCommit(
        lambda _rows: [], handed.extend, writer.store_rows, writer.close, DATABASE_AWAY
    )

    async def scenario() -> list[int | BaseException | None]:
        try:
            # Submitted together: one group, one statement, which the NUL fails as a whole.
            keys = ["a", "bad\u0000key", "b"]
            answers = [group.submit(row(key)) for key in keys]
            return list(await asyncio.gather(*answers, return_exceptions=True))
        finally:
            await writer.close()

    good_a, bad, good_b = asyncio.run(scenario())
    assert isinstance(bad, psycopg.DataError)
    with session(empty_inbox) as db:
        stored = {item.dedupe_key: item.id for item in db.exec(select(InboxItem))}
    assert stored == {"a": good_a, "b": good_b}
    assert handed == [stored["a"], stored["b"]]


def test_a_database_that_refuses_writes_gets_the_delivery_spooled_not_a_500(
    empty_inbox: str,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (no Redis here)
    tmp_path: Path,
) -> None:
    # A standby after a failover: connections succeed, every write fails (not "unavailable").
    database = make_url(empty_inbox).database
    read_only = f'ALTER DATABASE "{database}" SET default_transaction_read_only = '
    with get_engine(empty_inbox).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(read_only + "on"))
    try:
        settings = with_secrets(runtime.settings, database_url=empty_inbox, spool_dir=tmp_path)
        body = json.dumps(shopify_payload("orders/create")).encode()
        with TestClient(create_app(settings)) as client:
            headers = shopify_headers("orders/create", body, webhook_id="w-ro")
            response = client.post("/webhooks/shopify", content=body, headers=headers)
    finally:
        with get_engine(empty_inbox).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(read_only + "off"))
    assert (response.status_code, response.json()) == (
        200,
        {"id": None, "duplicate": False, "spooled": True},
    )
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_a_connection_the_server_ended_is_replaced_and_the_group_stored_not_spooled(
    empty_inbox: str,
) -> None:
    writer = PostgresInbox(empty_inbox)

    async def scenario() -> list[int | None]:
        try:
            await writer.store_rows([row("before")])
            # What a restart, a failover or an idle timeout does to the open connection.
            with get_engine(empty_inbox).connect() as conn:
                ended = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                conn.execute(
                    text(ended + " WHERE application_name = :name"), {"name": APPLICATION_NAME}
                )
            return await writer.store_rows([row("after"), row("before")])
        finally:
            await writer.close()

    after = asyncio.run(scenario())
    with session(empty_inbox) as db:
        stored = {item.dedupe_key: item.id for item in db.exec(select(InboxItem))}
    assert after == [stored["after"], None]
    assert sorted(stored) == ["after", "before"]


def test_a_database_that_does_not_answer_in_time_counts_as_away(empty_inbox: str) -> None:
    writer = PostgresInbox(empty_inbox, timeout_s=0.5)

    async def scenario() -> None:
        try:
            await writer.store_rows([row("a")])
        finally:
            await writer.close()

    # Another session holds the inbox locked: the INSERT waits, as on a hung server.
    with get_engine(empty_inbox).connect() as conn:
        conn.execute(text("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(UNAVAILABLE):
            asyncio.run(scenario())
        conn.rollback()
    # The stuck connection was closed (its server process ends once the lock is gone).
    wait_until(lambda: webhook_connections(empty_inbox) == 0, timeout_s=10, what="it to end")
