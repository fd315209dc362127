"""Random and hostile tokens, languages and bodies at the loyalty routes: never a 5xx, never a
figure for a link we did not sign, and a link we signed always shows its customer's page."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlmodel import Session

from models import Customer
from tests.integration.test_unsubscribe_property import HOSTILE_TOKENS
from tests.support import fuzz
from tests.support.web import TestClient
from worker.delivery.tokens import loyalty_token
from worker.runtime import Runtime
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app reads on its own connections
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
languages = st.text(max_size=30) | st.sampled_from(["de", "zh-CN,zh;q=0.9", "*", ";q=1", ","])


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    settings = runtime.settings.model_copy(update={"ladder_api_token": SecretStr("t0ken")})
    return TestClient(create_app(settings))


@SETTINGS
@given(
    suffix=st.sampled_from(["", "/widget.json"]),
    token=st.sampled_from(HOSTILE_TOKENS) | st.text(max_size=40).map(quote),
    language=languages,
)
def test_a_random_token_gets_a_404_and_no_figures(
    client: TestClient, suffix: str, token: str, language: str
) -> None:
    headers = {"Accept-Language": language.encode("utf-8", "replace")}  # any bytes
    answer = client.get(f"/l/{token}{suffix}", headers=headers)
    hypothesis.event(f"answered {answer.status_code}")
    assert answer.status_code in (404, 405), answer.text
    assert "points" not in answer.text


@SETTINGS
@given(
    body=st.binary(max_size=300)
    | st.fixed_dictionaries(
        {},
        optional={"source": fuzz.json_values, "id": fuzz.json_values, "email": fuzz.json_values},
    ).map(fuzz.dumps)
)
def test_a_random_statement_request_is_refused_without_a_5xx(
    client: TestClient, body: bytes
) -> None:
    answer = client.post(
        "/loyalty/statement", content=body, headers={"Authorization": "Bearer t0ken"}
    )
    hypothesis.event(f"answered {answer.status_code}")
    assert answer.status_code in (404, 413, 422), answer.text


def test_a_signed_link_shows_its_customers_page(db: Session, client: TestClient) -> None:
    customer = Customer(email="ana@example.com", locale="zh-CN", created_at=T0)
    db.add(customer)
    db.commit()
    token = loyalty_token(client.app.state.settings.secret_key(), customer.id or 0)  # type: ignore[attr-defined]
    page = client.get(f"/l/{token}")
    assert page.status_code == 200
    assert '<html lang="zh">' in page.text and "暂无积分。" in page.text
