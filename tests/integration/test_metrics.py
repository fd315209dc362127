"""`GET /metrics` as Prometheus scrapes it: the web's counters, the database's gauges, the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import Session, col

from models import Delivery, DeliveryStatus, Event, EventStatus
from tests.support.deliveries import seed_due_deliveries, write_hello_message
from tests.support.scrapes import Samples, samples, value
from tests.support.services import free_port
from tests.support.web import TestClient
from tests.support.webhooks import shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.delivery import pauses
from worker.delivery.sending import deliver
from worker.metrics import exposition
from worker.metrics.gauges import DatabaseGauges
from worker.queue import leases
from worker.queue.clock import LEADER_LEASE
from worker.runtime import Runtime
from worker.web import create_app

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def webhooks(scraped: Samples, **labels: str) -> float:
    return value(scraped, "ladder_webhooks_total", **labels)


def test_metrics_count_a_signed_webhook_as_accepted_and_a_bad_signature_as_refused(
    client: TestClient,
) -> None:
    before = scrape(client)
    body = json.dumps(shopify_payload("orders/create")).encode()
    headers = shopify_headers("orders/create", body)
    assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 200
    assert client.post("/webhooks/shopify", content=body, headers=headers).json()["duplicate"]
    forged = {**headers, "X-Shopify-Hmac-Sha256": "AAAA", "X-Shopify-Webhook-Id": "wh-2"}
    assert client.post("/webhooks/shopify", content=body, headers=forged).status_code == 401
    assert client.post("/webhooks/nowhere", content=b"{}").status_code == 404
    after = scrape(client)

    def grew(**labels: str) -> float:
        return webhooks(after, **labels) - webhooks(before, **labels)

    assert grew(platform="shopify", outcome="accepted", reason="stored") == 1
    assert grew(platform="shopify", outcome="accepted", reason="duplicate") == 1
    assert grew(platform="shopify", outcome="refused", reason="signature") == 1
    # A platform Ladder does not know is no label of its own: the series stay few.
    assert grew(platform="unknown", outcome="refused", reason="unknown_platform") == 1
    assert value(after, "ladder_events", status="pending") == 0  # stored raw, not yet read
    assert value(after, "ladder_metrics_database_up") == 1


def test_metrics_refuse_a_scrape_without_the_token_once_one_is_set(
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001
) -> None:
    settings = runtime.settings.model_copy(update={"metrics_token": SecretStr("scrape-token")})
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        scraped = scrape(client, Authorization="Bearer scrape-token")
        assert value(scraped, "ladder_metrics_database_up") == 1


@pytest.mark.commits
def test_the_database_gauges_read_deliveries_events_leader_and_pause(
    db: Session, database_url: str
) -> None:
    ids = seed_due_deliveries(db, 4, now=T0 - timedelta(minutes=5))
    db.execute(update(Delivery).where(col(Delivery.id) == ids[0]).values(status="sent"))
    db.execute(update(Delivery).where(col(Delivery.id) == ids[1]).values(status="failed"))
    db.execute(
        update(Delivery)
        .where(col(Delivery.id) == ids[2])
        .values(send_at=T0 + timedelta(hours=1))  # not yet due: the oldest due is ids[3]
    )
    db.execute(
        update(Event)
        .where(col(Event.id) == db.get_one(Delivery, ids[3]).cause_event_id)
        .values(status=EventStatus.PENDING, received_at=T0 - timedelta(seconds=90))
    )
    db.commit()
    assert leases.acquire(db, LEADER_LEASE, "clock-a", now=T0, ttl=timedelta(seconds=30))
    pauses.pause(db, "sendgrid", "401 from SendGrid", now=T0, probe_after_s=300)
    current_time.freeze(T0)
    try:
        gauges = DatabaseGauges(database_url, backend="file", leader_lease=LEADER_LEASE)
        scraped = samples(exposition.render(exposition.Scrape(gauges)).decode())
    finally:
        current_time.freeze(None)

    assert value(scraped, "ladder_metrics_database_up") == 1
    assert value(scraped, "ladder_deliveries", status="scheduled") == 2
    assert value(scraped, "ladder_deliveries", status="sent") == 1
    assert value(scraped, "ladder_deliveries", status="failed") == 1
    assert value(scraped, "ladder_deliveries", status="bounced") == 0  # every state, 0 too
    assert value(scraped, "ladder_deliveries_by_message", message="hello", status="sent") == 1
    assert value(scraped, "ladder_deliveries_by_message", message="hello", status="scheduled") == 2
    assert value(scraped, "ladder_events", status="pending") == 1
    assert value(scraped, "ladder_events", status="processed") == 3
    assert value(scraped, "ladder_oldest_due_delivery_age_seconds") == 300
    assert value(scraped, "ladder_queue_lag_seconds") == 90
    assert value(scraped, "ladder_clock_leader") == 1
    assert value(scraped, "ladder_sending_paused", provider="sendgrid") == 1
    assert value(scraped, "ladder_sending_paused", provider="file") == 0


def test_an_expired_leader_lease_and_an_empty_database_read_as_zero(
    db: Session,  # noqa: ARG001  (migrated, empty)
    database_url: str,
) -> None:
    gauges = DatabaseGauges(database_url, backend="file", leader_lease=LEADER_LEASE)
    scraped = samples(exposition.render(exposition.Scrape(gauges)).decode())
    assert value(scraped, "ladder_clock_leader") == 0
    assert value(scraped, "ladder_oldest_due_delivery_age_seconds") == 0
    assert value(scraped, "ladder_queue_lag_seconds") == 0
    assert value(scraped, "ladder_sending_paused", provider="file") == 0


def test_a_database_that_does_not_answer_reads_as_down_and_the_scrape_still_answers() -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    gauges = DatabaseGauges(url, backend="file", leader_lease=LEADER_LEASE)
    scraped = samples(exposition.render(exposition.Scrape(gauges)).decode())
    assert value(scraped, "ladder_metrics_database_up") == 0
    assert ("ladder_deliveries", frozenset({("status", "sent")})) not in scraped


@pytest.fixture
def hello_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-message shop of `seed_due_deliveries`; before `runtime`, which reads it."""
    triggers, templates = write_hello_message(tmp_path / "shop")
    monkeypatch.setenv("TRIGGERS_DIR", str(triggers))
    monkeypatch.setenv("TEMPLATES_DIR", str(templates))


@pytest.mark.commits
def test_a_sent_delivery_counts_its_provider_request_and_its_decision(
    hello_shop: None,  # noqa: ARG001
    db: Session,
    runtime: Runtime,
) -> None:
    [delivery_id] = seed_due_deliveries(db, 1, now=T0)
    before = samples(exposition.render(exposition.Scrape()).decode())
    assert deliver(db, delivery_id, now=T0, runtime=runtime) == DeliveryStatus.SENT
    after = samples(exposition.render(exposition.Scrape()).decode())

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("ladder_provider_request_seconds_count", provider="file", outcome="sent") == 1
    assert grew("ladder_deliveries_decided_total", status="sent") == 1
