"""Random and hostile records at `POST /webhooks/postmark`: never a 5xx, and what is accepted is
stored and applied (none left failing on every try of the clock's re-apply)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlmodel import Session, select

from models import ProviderEvent
from tests.support.fuzz import HOSTILE, dumps, hostile, json_values
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.web import create_app

# The web app stores and applies the records on its own connection.
pytestmark = pytest.mark.commits
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "postmark"
SAMPLES: list[dict[str, Any]] = [
    json.loads(path.read_text(encoding="utf-8")) for path in sorted(FIXTURES.glob("*.json"))
]
FIELDS = ["RecordType", "ID", "Type", "MessageID", "Email", "Recipient", "BouncedAt",
          "DeliveredAt", "ChangedAt", "Metadata", "MessageStream", "SuppressSending",
          "SuppressionReason", "Inactive", "Description"]  # fmt: skip
AUTH = {"Authorization": "Basic " + base64.b64encode(b"postmark:webhook-password").decode()}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """One of Postmark's samples, of its own id and address, some fields replaced."""
    record = {**draw(st.sampled_from(SAMPLES)), "ID": uuid.uuid4().hex}
    record["Email" if "Email" in record else "Recipient"] = f"{uuid.uuid4().hex[:8]}@example.com"
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        record[name] = draw(hostile | json_values)
    if draw(st.booleans()):
        record["Metadata"] = {"delivery_id": draw(st.text("0123456789", max_size=12))}
    return record


def stored(db: Session) -> int:
    found = len(db.exec(select(ProviderEvent.id)).all())
    db.rollback()
    return found


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    credentials = {
        "postmark_webhook_username": "postmark",
        "postmark_webhook_password": SecretStr("webhook-password"),
    }
    return TestClient(create_app(runtime.settings.model_copy(update=credentials)))


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(record=records())
def test_hostile_records_get_a_400_and_what_is_accepted_is_stored_and_applied(
    client: TestClient, db: Session, record: dict[str, Any]
) -> None:
    before = stored(db)
    answer = client.post("/webhooks/postmark", content=dumps(record), headers=AUTH)
    hypothesis.event(f"answered {answer.status_code}")

    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert stored(db) == before  # nothing stored
        assert answer.json()["detail"]
        return
    new = answer.json()["new"]
    assert answer.json() == {"received": 1, "new": new, "applied": new}
    assert stored(db) == before + new


@settings(SETTINGS, max_examples=len(HOSTILE))
@given(value=st.sampled_from(HOSTILE))
def test_a_hostile_body_is_refused_with_a_400(client: TestClient, db: Session, value: Any) -> None:
    answer = client.post("/webhooks/postmark", content=dumps(value), headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"]
    assert stored(db) == 0
