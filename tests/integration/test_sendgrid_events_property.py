"""Random and hostile signed bodies at `POST /webhooks/sendgrid`: never a 5xx, and what is
accepted is stored and applied (none left failing on every try of the clock's re-apply)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from models import ProviderEvent
from tests.support.fuzz import HOSTILE, dumps, hostile, json_values
from tests.support.sendgrid_signer import Signer
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.web import create_app

# The web app stores and applies the events on its own connection.
pytestmark = pytest.mark.commits
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sendgrid"
SAMPLES: list[dict[str, Any]] = json.loads(
    (FIXTURES / "event_webhook_all_event_types.json").read_text(encoding="utf-8")
)
FIELDS = ["timestamp", "sg_event_id", "sg_message_id", "delivery_id", "email", "event", "reason",
          "type", "asm_group_id", "status", "url"]  # fmt: skip
SIGNER = Signer()


@st.composite
def bodies(draw: st.DrawFn) -> list[Any]:
    """A few events of SendGrid's samples, each of its own id, some fields replaced."""
    events: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        event = {**draw(st.sampled_from(SAMPLES)), "sg_event_id": uuid.uuid4().hex}
        event["email"] = f"{uuid.uuid4().hex[:8]}@example.com"
        for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
            event[name] = draw(hostile | json_values)
        events.append(event)
    return events


def stored(db: Session) -> int:
    found = len(db.exec(select(ProviderEvent.id)).all())
    db.rollback()
    return found


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    key = {"sendgrid_webhook_public_key": SIGNER.public_key}
    return TestClient(create_app(runtime.settings.model_copy(update=key)))


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(events=bodies())
def test_hostile_events_get_a_400_naming_the_field_and_what_is_accepted_is_stored_and_applied(
    client: TestClient, db: Session, events: list[Any]
) -> None:
    body = dumps(events)
    before = stored(db)
    seen = set(db.exec(select(ProviderEvent.provider_event_id)).all())
    db.rollback()
    answer = client.post("/webhooks/sendgrid", content=body, headers=SIGNER.headers(body))
    hypothesis.event(f"answered {answer.status_code}")

    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert stored(db) == before  # all or nothing
        assert answer.json()["detail"]
        for error in answer.json().get("errors", []):
            assert error["field"].split(".")[0].isdigit()
        return
    # An event without an id is known by its content, as `feedback.store` does.
    ids = {event.get("sg_event_id") or json.dumps(event, sort_keys=True) for event in events}
    # A hostile id drawn by an earlier example (the hostile values are few) is stored already.
    ids = {i for i in ids if str(i)[:255] not in seen}
    assert answer.json() == {"received": len(events), "new": len(ids), "applied": len(ids)}
    assert stored(db) == before + len(ids)


@settings(SETTINGS, max_examples=len(HOSTILE) * 2)
@given(value=st.sampled_from(HOSTILE), as_event=st.booleans())
def test_a_hostile_body_is_refused_with_a_400(
    client: TestClient, db: Session, value: Any, as_event: bool
) -> None:
    body = dumps([value] if as_event else value)
    answer = client.post("/webhooks/sendgrid", content=body, headers=SIGNER.headers(body))
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"]
    assert stored(db) == 0
