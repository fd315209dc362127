"""`POST /events` and `GET /healthz` as a client sees them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import Event
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.settings import Settings
from worker.web import create_app

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def order(n: int, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "source": "api",
        "id": f"ord-{n}-placed",
        "type": "order.placed",
        "occurred_at": T0.isoformat(),
        "customer": {"id": f"c-{n}", "email": f"ana-{n}@example.com", "accepts_marketing": True},
        "order": {
            "id": str(n),
            "total": "45.90",
            "currency": "EUR",
            "lines": [{"title": "Green tea", "quantity": 2, "price": "22.95"}],
        },
    }
    event.update(changes)
    return event


def bearer(settings: Settings) -> dict[str, str]:
    assert settings.ladder_api_token is not None
    return {"Authorization": f"Bearer {settings.ladder_api_token.get_secret_value()}"}


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    """The web app with its bearer token; new events go to an in-process broker."""
    with TestClient(create_app(runtime.settings), headers=bearer(runtime.settings)) as client:
        yield client


def stored_ids(db: Session) -> list[str]:
    db.expire_all()
    ids = sorted(event.source_event_id for event in db.exec(select(Event)).all())
    db.rollback()  # End the read: on SQLite every transaction holds the write lock.
    return ids


def test_events_without_the_bearer_token_are_refused_with_401(
    runtime: Runtime, db: Session
) -> None:
    with TestClient(create_app(runtime.settings)) as anonymous:
        missing = anonymous.post("/events", json=order(1))
        wrong = anonymous.post(
            "/events", json=order(1), headers={"Authorization": "Bearer not-the-token"}
        )
        basic = anonymous.post(
            "/events", json=order(1), headers={"Authorization": "Basic dXNlcg=="}
        )
    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert stored_ids(db) == []


def test_a_body_that_is_not_json_is_refused_with_400(client: TestClient, db: Session) -> None:
    response = client.post(
        "/events", content=b"order placed!", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body is not JSON")
    assert stored_ids(db) == []


def test_a_body_over_the_size_limit_is_refused_with_413(runtime: Runtime, db: Session) -> None:
    settings = runtime.settings.model_copy(update={"max_body_bytes": 1000})
    big = order(1, data={"note": "x" * 1000})
    with TestClient(create_app(settings), headers=bearer(settings)) as client:
        declared = client.post("/events", json=big)
        # Sent in chunks with no Content-Length: counted as it arrives.
        chunks = json.dumps(big).encode()
        streamed = client.post("/events", content=iter([chunks[:600], chunks[600:]]))
        small = client.post("/events", json=order(2))
    assert declared.status_code == 413
    assert declared.json() == {"detail": "body larger than 1000 bytes"}
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert small.status_code == 202
    assert stored_ids(db) == ["ord-2-placed"]


def test_a_batch_of_more_than_1000_events_is_refused_with_413(
    client: TestClient, db: Session
) -> None:
    response = client.post("/events", json=[order(n) for n in range(1001)])
    assert response.status_code == 413
    assert response.json()["detail"] == "1001 events in one batch; send at most 1000"
    assert stored_ids(db) == []


def test_invalid_events_are_refused_with_422_naming_each_bad_field_and_nothing_is_stored(
    client: TestClient, db: Session
) -> None:
    bad_email = order(0)
    bad_email["customer"]["email"] = "not-an-address"
    bad_total = order(1)
    bad_total["order"]["total"] = "lots"
    batch = client.post("/events", json=[bad_email, order(2), bad_total])
    assert batch.status_code == 422
    assert batch.json()["detail"] == "invalid events; nothing was stored"
    assert [error["field"] for error in batch.json()["errors"]] == [
        "0.customer.email",
        "2.order.total",
    ]

    one = order(3)
    one["order"]["total"] = "-1"
    del one["occurred_at"]
    single = client.post("/events", json=one)
    assert single.status_code == 422
    assert sorted(error["field"] for error in single.json()["errors"]) == [
        "occurred_at",
        "order.total",
    ]
    assert stored_ids(db) == []


def test_one_event_is_accepted_with_202_after_it_is_stored(client: TestClient, db: Session) -> None:
    response = client.post("/events", json=order(1))
    assert response.status_code == 202
    body = response.json()
    assert (body["stored"], body["duplicates"]) == (1, 0)
    assert stored_ids(db) == ["ord-1-placed"]
    event = db.exec(select(Event)).one()
    assert body["ids"] == [event.id]
    assert event.status == "pending"
    assert event.payload["order"]["total"] == "45.90"


def test_a_batch_is_accepted_with_202_counting_what_was_new_and_what_was_a_duplicate(
    client: TestClient, db: Session
) -> None:
    first = client.post("/events", json=[order(n) for n in range(3)])
    # A platform retrying a batch it already sent, with two new events added.
    second = client.post("/events", json=[order(n) for n in range(5)])
    assert (first.status_code, second.status_code) == (202, 202)
    assert (first.json()["stored"], first.json()["duplicates"]) == (3, 0)
    assert (second.json()["stored"], second.json()["duplicates"]) == (2, 3)
    assert stored_ids(db) == [f"ord-{n}-placed" for n in range(5)]


def test_the_same_event_posted_twice_is_one_row(client: TestClient, db: Session) -> None:
    first = client.post("/events", json=order(7))
    again = client.post("/events", json=order(7))
    assert (first.json()["stored"], first.json()["duplicates"]) == (1, 0)
    assert (again.status_code, again.json()["stored"], again.json()["duplicates"]) == (202, 0, 1)
    assert stored_ids(db) == ["ord-7-placed"]


def test_healthz_answers_ok_when_the_database_is_reachable(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
