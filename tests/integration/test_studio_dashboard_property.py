"""Random and hostile searches, ids, pages and forms at the dashboard's routes: never a 5xx, and
the pause is lifted only by a form this server signed."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from models import Customer, SendingPause, Suppression
from tests.support.studio import add_person, log_in
from tests.support.web import TestClient
from worker import current_time
from worker.delivery import pauses
from worker.runtime import Runtime
from worker.studio.people import Role
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app reads on its own connections
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Texts that break a careless query: NUL (PostgreSQL refuses it), LIKE's wildcards and escape,
# a lone surrogate, an address past the column, numbers past any id.
HOSTILE = ["\x00", "%", "_", "\\", "a%_\\", "\ud800", "é" * 400, "x" * 5000, "2147483648", "-1"]
texts = st.sampled_from(HOSTILE) | st.text(max_size=40)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def client(db: Session, runtime: Runtime) -> TestClient:
    db.add(Customer(email="ana@example.com", first_name="Ana", created_at=T0))
    db.add(Suppression(email="gone@example.com", reason="bounced", created_at=T0))
    db.commit()
    current_time.freeze(T0)
    add_person(runtime.settings.database_url, "maria@shop.example", Role.PUBLISHER)
    client = TestClient(create_app(runtime.settings))
    assert log_in(client, "maria@shop.example").status_code == 303
    return client


def quoted(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"))


PATHS = ["/studio/customers?q={}", "/studio/suppressions?q={}", "/studio/suppressions?before={}",
         "/studio/customers/{}", "/studio/?days={}", "/studio/?lifted={}"]  # fmt: skip


@SETTINGS
@given(path=st.sampled_from(PATHS), text=texts)
def test_a_random_search_id_or_page_is_answered_without_a_5xx(
    client: TestClient, path: str, text: str
) -> None:
    answer = client.get(path.format(quoted(text)))
    hypothesis.event(f"answered {answer.status_code}")
    assert answer.status_code in (200, 404, 422), answer.text


@settings(SETTINGS, max_examples=25)
@given(provider=texts, token=texts)
def test_a_random_lift_form_is_refused_and_lifts_nothing(
    client: TestClient, db: Session, provider: str, token: str
) -> None:
    pauses.pause(db, "sendgrid", "refused", now=T0, probe_after_s=60)
    body = f"provider={quoted(provider)}&token={quoted(token)}"
    answer = client.post(
        "/studio/pauses/lift",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code in (403, 422), answer.text
    db.expire_all()
    assert len(db.exec(select(SendingPause)).all()) == 1
