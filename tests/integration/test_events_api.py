"""`POST /events`, `GET /healthz` and `GET /readyz` as a client sees them, on SQLite and
PostgreSQL."""

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


def test_healthz_says_alive_and_readyz_that_the_database_and_broker_answer(
    client: TestClient,
) -> None:
    alive = client.get("/healthz")
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "broker": "in-process"}


def with_field(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`event` with the dotted `path` set to `value`."""
    *parents, name = path.split(".")
    place = event
    for part in parents:
        place = place[int(part)] if isinstance(place, list) else place[part]
    place[name] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("customer.first_name", "Ana\u0000", "holds a NUL character"),
        ("id", "ord-\u0000", "holds a NUL character"),
        ("order.lines.0.title", "tea\u0000", "holds a NUL character"),
        ("data", {"note": ["ok", "\u0000"]}, "note.1: holds a NUL character"),
        ("data", {"note": "\ud800"}, "note: is not valid Unicode text"),
        ("data", {"\u0000": 1}, "\\x00: its name holds a NUL character"),
        ("customer.last_name", "\udfff", "Input should be a valid string"),
        ("occurred_at", "0001-01-01T00:00:00+01:00", "must be between 1900-01-01 and 2200"),
        ("occurred_at", "9999-12-31T23:59:59-01:00", "must be between 1900-01-01 and 2200"),
        ("occurred_at", "0001-01-01T00:00:00+00:00", "must be between 1900-01-01 and 2200"),
    ],
    ids=[
        "a NUL in a name",
        "a NUL in the id",
        "a NUL in a line",
        "a NUL deep in data",
        "a lone surrogate in data",
        "a NUL in a key of data",
        "a lone surrogate in a name",
        "the year 1, an hour east",
        "the year 9999, an hour west",
        "the year 1 in UTC",
    ],
)
def test_a_value_the_database_cannot_store_is_refused_with_422_naming_the_field(
    client: TestClient, db: Session, path: str, value: Any, error: str
) -> None:
    body = json.dumps([order(1), with_field(order(2), path, value)])  # `\ud800` as escaped
    response = client.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    [named] = response.json()["errors"]
    assert named["field"] == f"1.{path}"
    assert error in named["error"]
    assert stored_ids(db) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "body is not JSON: nested deeper than 64 levels"),
        (b'{"data": ' + b"[" * 900 + b"]" * 900 + b"}", "body is not JSON: nested deeper than"),
        (b'{"id": ' + b"9" * 5000 + b"}", "body is not JSON: an integer of more than 4300 digits"),
        (b'{"id": "1", "data": {"x": NaN}}', "body is not JSON: NaN is not a JSON number"),
        (b'{"id": "1", "data": {"x": -Infinity}}', "body is not JSON: -Infinity is not a JSON"),
        (b'{"id": "1", "data": {"x": 1e400}}', "body is not JSON: a number too large to be fin"),
    ],
    ids=["nested 100,000 deep", "nested 900 deep", "5,000 digits", "NaN", "-Infinity", "1e400"],
)
def test_json_that_ladder_cannot_hold_is_refused_with_400_saying_why(
    client: TestClient, db: Session, body: bytes, detail: str
) -> None:
    response = client.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(detail)
    assert stored_ids(db) == []


def test_a_batch_of_1000_with_one_bad_id_is_refused_naming_its_index_and_stores_nothing(
    client: TestClient, db: Session
) -> None:
    # A client sending it again unchanged would be refused again: the answer says what to fix.
    batch = [order(n) for n in range(1000)]
    batch[637]["id"] = "ord-637\u0000"
    refused = client.post("/events", json=batch)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "637.id",
            "error": "Value error, holds a NUL character, which the database cannot store",
        }
    ]
    assert stored_ids(db) == []

    batch[637]["id"] = "ord-637-placed"
    accepted = client.post("/events", json=batch)
    assert (accepted.status_code, accepted.json()["stored"]) == (202, 1000)


def test_an_unknown_event_type_is_refused_naming_it_and_a_custom_one_is_stored(
    client: TestClient, db: Session
) -> None:
    typo = client.post("/events", json=order(1, type="order.placd"))
    assert typo.status_code == 422
    [error] = typo.json()["errors"]
    assert error["field"] == "type"
    assert "did you mean 'order.placed'" in error["error"]
    # What Ladder makes itself is not taken from outside.
    own = client.post("/events", json={**order(2, type="segment.entered"), "order": None})
    assert own.status_code == 422
    assert [e["field"] for e in own.json()["errors"]] == ["type"]
    assert stored_ids(db) == []

    custom = {**order(3, type="custom.gift_card.redeemed"), "order": None}
    assert client.post("/events", json=custom).status_code == 202
    assert stored_ids(db) == ["ord-3-placed"]
