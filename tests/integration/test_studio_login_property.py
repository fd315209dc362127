"""Random and hostile logins at the studio's login form: never a 5xx, never a session for a
wrong password, never a redirect off the studio."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz import HOSTILE
from tests.support.studio import PASSWORD, add_person, hidden
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app reads the accounts on its own connections


def is_utf8(value: str) -> bool:
    """What a browser can send in a form: no lone surrogates."""
    return not any("\ud800" <= char <= "\udfff" for char in value)


texts = st.text(max_size=60) | st.sampled_from(
    [value for value in HOSTILE if isinstance(value, str) and is_utf8(value)]
    + ["ana@shop.example\x00", "ANA@SHOP.EXAMPLE", "//evil.example", "/studio/\r\nX: y",
       "/studio/ü", "https://evil.example/studio/", "/studio/../u/x", ""]
)  # fmt: skip


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    add_person(runtime.settings.database_url, "ana@shop.example")
    return TestClient(create_app(runtime.settings))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(email=texts, password=texts, target=texts)
def test_a_hostile_login_is_answered_without_a_5xx_and_without_a_session(
    client: TestClient, email: Any, password: Any, target: Any
) -> None:
    hypothesis.assume(password != PASSWORD)
    token = hidden(client.get("/studio/login").text, "token")
    form = {"email": email, "password": password, "next": target, "token": token}
    answer = client.post("/studio/login", data=form, follow_redirects=False)
    assert answer.status_code in (401, 422, 429), answer.text
    assert "ladder_studio" not in answer.headers.get("set-cookie", "")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(target=texts)
def test_after_a_right_login_any_next_lands_inside_the_studio(
    client: TestClient, target: Any
) -> None:
    token = hidden(client.get("/studio/login").text, "token")
    form = {"email": "ana@shop.example", "password": PASSWORD, "next": target, "token": token}
    answer = client.post("/studio/login", data=form, follow_redirects=False)
    assert answer.status_code in (303, 422, 429), answer.text  # 422: a `next` past 2,000
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/studio/")
