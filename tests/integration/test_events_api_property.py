"""Random and hostile bodies at `POST /events`: never a 5xx, and what is accepted is stored and
can be processed (no accepted event fails later on a value the database refuses)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import hypothesis
import pytest
from dramatiq.brokers.stub import StubBroker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from models import Event
from tests.support.fuzz import HOSTILE, dumps, hostile, json_values, put
from tests.support.web import TestClient
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import Settings
from worker.web import create_app

# The web app stores events on its own connection.
pytestmark = pytest.mark.commits
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
FIELDS: list[list[str | int]] = [
    ["id"],
    ["source"],
    ["type"],
    ["occurred_at"],
    ["customer", "id"],
    ["customer", "email"],
    ["customer", "first_name"],
    ["customer", "timezone"],
    ["customer", "birthday"],
    ["customer", "locale"],
    ["order", "id"],
    ["order", "total"],
    ["order", "lines", 0, "title"],
    ["order", "lines", 0, "quantity"],
    ["order", "lines", 0, "price"],
    ["order", "lines", 0, "product_id"],
    ["data", "note"],
    ["data"],
]


def event(key: str, n: int) -> dict[str, Any]:
    """A valid `order.placed` of its own id, customer and order."""
    return {
        "id": f"{key}-{n}",
        "type": "order.placed",
        "occurred_at": T0.isoformat(),
        "customer": {"id": f"c-{key}-{n}", "email": f"{key}-{n}@example.com", "first_name": "Ana"},
        "order": {
            "id": f"{key}-{n}",
            "total": "45.90",
            "currency": "EUR",
            "lines": [{"product_id": "p-1", "title": "Green tea", "quantity": 2, "price": "22.95"}],
        },
    }


def bearer(settings: Settings) -> dict[str, str]:
    assert settings.ladder_api_token is not None
    return {"Authorization": f"Bearer {settings.ladder_api_token.get_secret_value()}"}


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Any], bool]:
    """(events, sent as a list): a few valid events of this example's own ids, some with a
    field replaced by a hostile or random value."""
    key = uuid.uuid4().hex[:12]
    events: list[Any] = [event(key, n) for n in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(0, 2))):
        position = draw(st.integers(0, len(events) - 1))
        value = draw(hostile | json_values)
        events[position] = put(events[position], draw(st.sampled_from(FIELDS)), value)
    return events, len(events) > 1 or draw(st.booleans())


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    with TestClient(create_app(runtime.settings), headers=bearer(runtime.settings)) as client:
        yield client


def count(db: Session) -> int:
    found = len(db.exec(select(Event.id)).all())
    db.rollback()
    return found


def stored(db: Session, ids: list[str]) -> list[Event]:
    db.expire_all()
    found = list(db.exec(select(Event).where(col(Event.source_event_id).in_(ids))).all())
    db.rollback()
    return found


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The refusals a processed event may meet: its own, foreseen ones, never the database's.
UNFORESEEN = ("the database refused a value", "while processing this event alone")


@SETTINGS
@given(batch=batches())
def test_hostile_events_get_a_4xx_naming_the_field_and_what_is_accepted_is_stored_and_processed(
    client: TestClient, db: Session, runtime: Runtime, batch: tuple[list[Any], bool]
) -> None:
    events, as_list = batch
    body = dumps(events if as_list else events[0])
    before = count(db)
    response = client.post("/events", content=body, headers={"Content-Type": "application/json"})
    ids = [str(event.get("id")) for event in events if isinstance(event, dict)]

    hypothesis.event(f"answered {response.status_code}")
    assert response.status_code in (202, 400, 422), response.text
    if response.status_code != 202:
        assert count(db) == before  # all or nothing
        answer = response.json()
        assert answer["detail"]
        if response.status_code == 422 and as_list and "errors" in answer:
            assert all(error["field"].split(".")[0].isdigit() for error in answer["errors"])
        return
    rows = stored(db, ids)
    assert sorted(row.source_event_id for row in rows) == sorted(set(ids))
    result = process_many(
        db,
        [row.id for row in rows if row.id is not None],
        now=T0,
        scheduler=Scheduler(runtime.triggers, runtime.settings),
    )
    assert not [r for r in result.failed.values() if r.startswith(UNFORESEEN[0])], result.failed
    assert not [r for r in result.failed.values() if UNFORESEEN[1] in r], result.failed


@settings(SETTINGS, max_examples=len(HOSTILE))
@given(value=st.sampled_from(HOSTILE))
def test_a_hostile_body_is_refused_with_a_4xx(client: TestClient, db: Session, value: Any) -> None:
    response = client.post(
        "/events", content=dumps(value), headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["detail"]
    assert count(db) == 0
