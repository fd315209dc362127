"""Unsubscribe links: a confirm page, one-click POST (RFC 8058), and nothing mailed after."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from models import Customer, Suppression
from tests.support.web import TestClient
from worker import timesource
from worker.runtime import Runtime
from worker.tokens import unsubscribe_token
from worker.web import create_app


def _customer(db: Session) -> Customer:
    customer = Customer(
        email="ana@example.com", accepts_marketing=True, created_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    db.add(customer)
    db.commit()
    return customer


def test_the_link_shows_a_confirm_page_and_changes_nothing(db: Session, runtime: Runtime) -> None:
    customer = _customer(db)
    token = unsubscribe_token(runtime.settings.secret_key(), customer.id)  # type: ignore[arg-type]
    client = TestClient(create_app(runtime.settings))

    page = client.get(f"/unsubscribe/{token}")

    assert page.status_code == 200
    assert "Unsubscribe" in page.text and runtime.settings.shop_name in page.text
    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is True


def test_one_click_withdraws_consent_and_suppresses_the_address(
    db: Session, runtime: Runtime
) -> None:
    customer = _customer(db)
    token = unsubscribe_token(runtime.settings.secret_key(), customer.id)  # type: ignore[arg-type]
    timesource.freeze(datetime(2026, 6, 1, 12, tzinfo=UTC))
    client = TestClient(create_app(runtime.settings))

    answer = client.post(f"/unsubscribe/{token}", content="List-Unsubscribe=One-Click")
    again = client.post(f"/unsubscribe/{token}", content="List-Unsubscribe=One-Click")

    assert (answer.status_code, again.status_code) == (200, 200)
    db.expire_all()
    stored = db.get_one(Customer, customer.id)
    assert stored.accepts_marketing is False
    assert stored.consent_source == "unsubscribe_link"
    assert stored.consent_changed_at == datetime(2026, 6, 1, 12, tzinfo=UTC)
    suppressions = db.exec(select(Suppression)).all()
    assert [(s.email, s.reason) for s in suppressions] == [("ana@example.com", "unsubscribed")]


def test_a_forged_or_altered_token_is_refused(db: Session, runtime: Runtime) -> None:
    customer = _customer(db)
    token = unsubscribe_token(b"someone-elses-key", customer.id)  # type: ignore[arg-type]
    client = TestClient(create_app(runtime.settings))

    assert client.post(f"/unsubscribe/{token}").status_code == 404
    assert client.get(f"/unsubscribe/{customer.id}.abc").status_code == 404
    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is True
