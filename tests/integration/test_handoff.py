"""The web process hands a group's new inbox ids to the broker in one round trip (a Redis
pipeline, a RabbitMQ transaction): a real worker consumes them, and a broker away leaves the
stored rows to the relay, the answer still 200."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlmodel import Session, col, select

from models import Event, InboxItem
from tests.support.brokers import drain
from tests.support.services import free_port
from tests.support.web import TestClient
from tests.support.webhooks import rows, shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.queue import broker as broker_module
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


def test_ids_handed_over_together_are_normalised_by_a_worker_on_either_broker(
    client: TestClient, db: Session, server_broker: dramatiq.Broker
) -> None:
    if isinstance(server_broker, RedisBroker):
        server_broker.client.script_flush()  # as after a Redis restart: loaded again
    assert post_orders(client, ["w-1", "w-2", "w-3"]) == [200, 200, 200]
    drain(server_broker, ("events",))
    stored = rows(db, select(InboxItem).order_by(col(InboxItem.id)))
    assert [(row.dedupe_key, row.status) for row in stored] == [
        ("w-1", "normalised"),
        ("w-2", "normalised"),
        ("w-3", "normalised"),
    ]
    assert [event.type for event in rows(db, select(Event))] == ["order.placed"] * 3


def broker_at_a_closed_port(kind: str) -> dramatiq.Broker:
    if kind == "rabbitmq":
        url = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
        return broker_module.rabbitmq_broker(url, timeout_s=2.0)
    return RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0")  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_with_the_broker_away_the_delivery_is_answered_200_and_left_to_the_relay(
    client: TestClient, db: Session, kind: str
) -> None:
    with installed(broker_at_a_closed_port(kind)):
        assert post_orders(client, ["while-the-broker-is-away"]) == [200]
    [row] = rows(db, select(InboxItem))
    assert (row.dedupe_key, row.status, row.enqueued_at) == (
        "while-the-broker-is-away",
        "pending",
        None,
    )
