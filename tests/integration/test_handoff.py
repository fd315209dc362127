"""The web process hands a group's new inbox ids to Redis in one pipeline: a real worker
consumes them, and a Redis away leaves the stored rows to the relay, the answer still 200."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlmodel import Session, col, select

from models import Event, InboxItem
from tests.support.brokers import drain
from tests.support.services import free_port
from tests.support.web import TestClient
from tests.support.webhooks import rows, shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.queue.allinone import installed
from worker.runtime import Runtime
from worker.web import create_app

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_orders(client: TestClient, webhook_ids: list[str]) -> list[int]:
    statuses = []
    for webhook_id in webhook_ids:
        payload = shopify_payload("orders/create") | {"id": abs(hash(webhook_id)) % 10**9}
        body = json.dumps(payload).encode()
        headers = shopify_headers("orders/create", body, webhook_id=webhook_id)
        statuses.append(client.post("/webhooks/shopify", content=body, headers=headers).status_code)
    return statuses


def test_ids_sent_through_the_pipeline_are_normalised_by_a_redis_worker(
    client: TestClient, db: Session, redis_broker: RedisBroker
) -> None:
    redis_broker.client.script_flush()  # as after a Redis restart: the script is loaded again
    assert post_orders(client, ["w-1", "w-2", "w-3"]) == [200, 200, 200]
    drain(redis_broker, ("events",))
    stored = rows(db, select(InboxItem).order_by(col(InboxItem.id)))
    assert [(row.dedupe_key, row.status) for row in stored] == [
        ("w-1", "normalised"),
        ("w-2", "normalised"),
        ("w-3", "normalised"),
    ]
    assert [event.type for event in rows(db, select(Event))] == ["order.placed"] * 3


def test_with_redis_away_the_delivery_is_answered_200_and_left_to_the_relay(
    client: TestClient, db: Session
) -> None:
    away = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0")  # type: ignore[no-untyped-call]
    with installed(away):
        assert post_orders(client, ["while-redis-is-away"]) == [200]
    [row] = rows(db, select(InboxItem))
    assert (row.dedupe_key, row.status, row.enqueued_at) == ("while-redis-is-away", "pending", None)
