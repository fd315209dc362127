"""The inbox as an operator sees it: unreadable deliveries kept and shown, replayed after a fix,
rows left waiting picked up by the clock, a repeated message doing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select
from typer.testing import CliRunner

from models import Event, InboxItem
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import one, rows, shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.cli import app
from worker.intake import inbox
from worker.queue import broker as broker_module
from worker.queue import clock, dispatch
from worker.queue.allinone import installed
from worker.runtime import Runtime
from worker.sources import Verified
from worker.web import create_app

# The platforms' documented samples are a dollar shop's orders.
pytestmark = pytest.mark.usefixtures("usd_shop")

T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_shopify(client: TestClient, topic: str, payload: dict[str, Any], webhook_id: str) -> None:
    body = json.dumps(payload).encode()
    headers = shopify_headers(topic, body, webhook_id=webhook_id)
    assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 200


def status(runner: CliRunner) -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def test_an_unreadable_payload_is_kept_failed_with_the_reason_and_shown_by_status(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    order = shopify_payload("orders/create")
    order["total_price"] = "lots"
    post_shopify(client, "orders/create", order, "wh-broken")
    post_shopify(client, "app/uninstalled", shopify_payload("app/uninstalled"), "wh-app")
    drain(stub_broker)
    broken = one(db, select(InboxItem).where(InboxItem.dedupe_key == "wh-broken"))
    assert broken.status == "failed"
    assert (
        broken.error
        == "does not fit the canonical event: order.total: Input should be a valid decimal"
    )
    assert json.loads(broken.body) == order  # nothing thrown away
    assert rows(db, select(Event)) == []

    report = status(CliRunner())
    assert report["inbox"] == {"failed": 1, "ignored": 1}
    assert {"table": "inbox", "id": broken.id, "reason": broken.error} in report["failed_recently"]
    assert sorted((u["topic"], u["status"], u["count"]) for u in report["inbox_unused"]) == [
        ("app/uninstalled", "ignored", 1),
        ("orders/create", "failed", 1),
    ]
    human = CliRunner().invoke(app, ["status"])
    assert "orders/create" in human.output
    assert "app/uninstalled" in human.output


def test_replay_re_runs_failed_deliveries_of_a_topic_once_what_they_needed_is_there(
    client: TestClient, db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    post_shopify(client, "refunds/create", shopify_payload("refunds/create"), "wh-refund")
    post_shopify(client, "app/uninstalled", shopify_payload("app/uninstalled"), "wh-app")
    drain(stub_broker)
    for n in range(1, 5):  # the order never came: the refund fails after five tries
        clock.tick(db, now=T0 + n * timedelta(minutes=6), runtime=runtime)
        drain(stub_broker)
    assert one(db, select(InboxItem.status).where(InboxItem.topic == "refunds/create")) == "failed"
    post_shopify(client, "orders/create", shopify_payload("orders/create"), "wh-order")
    drain(stub_broker)

    result = CliRunner().invoke(app, ["inbox", "replay", "--failed", "--topic", "refunds/create"])
    assert result.exit_code == 0, result.output
    assert "1 deliveries back to pending" in result.output
    drain(stub_broker)

    assert sorted(e.type for e in rows(db, select(Event))) == ["order.placed", "order.refunded"]
    states = {row.topic: row.status for row in rows(db, select(InboxItem))}
    assert states == {
        "refunds/create": "normalised",
        "orders/create": "normalised",
        "app/uninstalled": "ignored",  # not failed: --failed left it alone
    }


def test_a_replayed_delivery_gets_its_tries_again_not_failed_at_the_first(
    client: TestClient, db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    post_shopify(client, "refunds/create", shopify_payload("refunds/create"), "wh-refund")
    drain(stub_broker)
    for n in range(1, 5):  # the order never came: the refund fails after five tries
        clock.tick(db, now=T0 + n * timedelta(minutes=6), runtime=runtime)
        drain(stub_broker)
    assert one(db, select(InboxItem.status)) == "failed"

    result = CliRunner().invoke(app, ["inbox", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    drain(stub_broker)

    # Still no order: waiting again, on its first try of five, not failed at once.
    item = one(db, select(InboxItem))
    assert (item.status, item.attempts) == ("pending", 1)


@pytest.mark.commits  # the clock thread works on its own connection
def test_a_delivery_stored_while_no_worker_listened_is_normalised_by_the_clock(
    db: Session, runtime: Runtime
) -> None:
    body = json.dumps(shopify_payload("orders/create")).encode()
    # No consumer in this process: the row is stored with enqueued_at NULL, nothing is sent.
    stored = inbox.store(
        db,
        "shopify",
        Verified("orders/create", "wh-1"),
        body,
        now=T0,
        enqueued_at=dispatch.enqueue_at(T0),
    )
    assert one(db, select(InboxItem.enqueued_at)) is None
    with installed(StubBroker()) as broker:
        broker_module.mark_consumed_here(broker)
        report = clock.tick(db, now=T0 + timedelta(seconds=1), runtime=runtime)
        assert report.inbox == 1
        drain(broker)
    assert one(db, select(InboxItem.status).where(InboxItem.id == stored.id)) == "normalised"
    assert [e.type for e in rows(db, select(Event))] == ["order.placed"]


def test_a_repeated_normalise_message_does_nothing(
    db: Session,
    runtime: Runtime,
) -> None:
    body = json.dumps(shopify_payload("orders/create")).encode()
    stored = inbox.store(db, "shopify", Verified("orders/create", "wh-1"), body, now=T0)
    assert stored.id is not None
    first = inbox.normalise(db, stored.id, now=T0, settings=runtime.settings)
    second = inbox.normalise(db, stored.id, now=T0, settings=runtime.settings)
    assert (len(first), second) == (1, [])
    assert one(db, select(InboxItem.attempts)) == 1


def test_a_value_the_database_refuses_fails_the_delivery_instead_of_retrying_forever(
    db: Session, runtime: Runtime
) -> None:
    order = shopify_payload("orders/create")
    order["id"] = "1001\u0000"  # PostgreSQL text cannot hold a NUL; refused on SQLite too
    body = json.dumps(order).encode()
    stored = inbox.store(db, "shopify", Verified("orders/create", "wh-nul"), body, now=T0)
    assert stored.id is not None
    inbox.normalise(db, stored.id, now=T0, settings=runtime.settings)
    row = one(db, select(InboxItem))
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None
    assert row.error.startswith("does not fit the canonical event: id: Value error, holds a NUL")


def test_a_payload_nested_too_deep_to_read_is_failed_with_its_try_counted(
    db: Session, runtime: Runtime
) -> None:
    body = b'{"id": 1, "line_items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    stored = inbox.store(db, "shopify", Verified("orders/create", "wh-deep"), body, now=T0)
    assert stored.id is not None
    assert inbox.normalise(db, stored.id, now=T0, settings=runtime.settings) == []
    row = one(db, select(InboxItem))
    assert (row.status, row.attempts, row.error) == (
        "failed",
        1,
        "body is not JSON: nested deeper than 64 levels",
    )
