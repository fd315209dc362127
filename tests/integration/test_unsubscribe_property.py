"""Random and hostile tokens and forms at the unsubscribe routes: never a 5xx; a link we signed
always works, and what it was asked to record is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from models import Customer, Preference
from tests.support.web import TestClient
from worker.delivery.tokens import unsubscribe_token
from worker.runtime import Runtime
from worker.web import create_app

# The web app reads and writes consent on its own connections.
pytestmark = pytest.mark.commits
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROUTES = [("GET", "/u/{}"), ("POST", "/u/{}"), ("GET", "/unsubscribe/{}"),
          ("POST", "/unsubscribe/{}"), ("GET", "/u/{}/preferences"),
          ("POST", "/u/{}/preferences")]  # fmt: skip
# Token texts a fuzz once answered 500: digits `int()` refuses, numbers past any row id.
HOSTILE_TOKENS = [
    "².m.abc",
    "9" * 5000 + ".m.abc",
    "1" * 19 + ".m.abc",
    "%00",
    "1.m.%00",
    "%ED%A0%80.m.x",
    "1.%FF.x",
    "..",
    "",
    "-1.m.x",
]
forms = st.binary(max_size=200) | st.sampled_from(
    [b"marketing=yes", b"transactional=yes&marketing=yes", b"marketing=\x00", b"%00=yes", b"\xff"]
)


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime.settings))


def customer_of(db: Session) -> Customer:
    customer = Customer(email="ana@example.com", accepts_marketing=True, locale="de", created_at=T0)
    db.add(customer)
    db.commit()
    return customer


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    route=st.sampled_from(ROUTES),
    token=st.sampled_from(HOSTILE_TOKENS) | st.text(max_size=40).map(quote),
    form=forms,
)
def test_a_random_token_or_form_is_answered_without_a_5xx(
    client: TestClient, route: tuple[str, str], token: str, form: bytes
) -> None:
    method, path = route
    answer = client.request(method, path.format(token), content=form if method == "POST" else None)
    hypothesis.event(f"answered {answer.status_code}")
    assert answer.status_code in (200, 404, 405, 413), answer.text


@SETTINGS
@given(
    customer_id=st.sampled_from([2**31 - 1, 2**31, 10**17, 0]) | st.integers(1, 10**6),
    message_class=st.sampled_from(["marketing", "transactional"]),
)
def test_a_signed_token_naming_any_id_is_answered_without_a_5xx(
    client: TestClient, runtime: Runtime, customer_id: int, message_class: str
) -> None:
    token = unsubscribe_token(runtime.settings.secret_key(), customer_id, message_class)
    for method, path in ROUTES:
        answer = client.request(method, path.format(token), content=b"")
        # Past the column's range no row can have that id: the link is not one of ours.
        expected = 200 if customer_id <= 2**31 - 1 else 404
        assert answer.status_code == expected, (method, path, answer.text)


@settings(SETTINGS, max_examples=30)
@given(form=forms, message_class=st.sampled_from(["marketing", "transactional"]))
def test_a_signed_link_records_what_the_form_asks_whatever_else_it_holds(
    client: TestClient, db: Session, runtime: Runtime, form: bytes, message_class: str
) -> None:
    customer = db.exec(select(Customer)).first() or customer_of(db)
    token = unsubscribe_token(runtime.settings.secret_key(), customer.id, message_class)  # type: ignore[arg-type]
    db.rollback()  # SQLite: end the read, so the web request can write
    answer = client.post(f"/u/{token}/preferences", content=form)

    assert answer.status_code == 200, answer.text
    names = {pair.split(b"=")[0] for pair in form.split(b"&")}
    db.expire_all()
    choices: dict[str, Any] = {
        p.message_class: p.opted_out
        for p in db.exec(select(Preference).where(col(Preference.customer_id) == customer.id))
    }
    db.rollback()
    assert choices == {
        "marketing": b"marketing" not in names,
        "transactional": b"transactional" not in names,
    }
