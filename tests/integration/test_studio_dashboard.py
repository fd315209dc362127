"""The studio's dashboard: each trigger's emails and revenue, its state and plan, a sending pause
lifted by its button (and not without the form's token), customers found and explained, the
suppression list."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlmodel import Session, col, select

from models import Customer, Delivery, ProviderEvent, SendingPause, Suppression
from models.db import session
from tests.support.factories import order_event
from tests.support.studio import add_person, log_in
from tests.support.web import TestClient
from worker import current_time
from worker.delivery import feedback, pauses, sending
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.studio import audit, people
from worker.studio.people import Role
from worker.web import create_app

MARIA = "maria@shop.example"  # a publisher
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)

pytestmark = pytest.mark.commits  # the web app reads on its own connections


def studio(runtime: Runtime, *, logged_in: bool = True) -> TestClient:
    """The web app, with Maria (a publisher) logged in unless `logged_in` is False."""
    with session(runtime.settings.database_url) as db:
        known = people.find(db, MARIA) is not None
    if not known:
        add_person(runtime.settings.database_url, MARIA, Role.PUBLISHER)
    client = TestClient(create_app(runtime.settings))
    if logged_in:
        assert log_in(client, MARIA).status_code == 303
    return client


def handle(db: Session, runtime: Runtime, *, at: datetime, **fields: Any) -> None:
    [event_id] = store_events(db, [order_event(at=at, **fields)], now=at).stored
    process(db, event_id, now=at, scheduler=Scheduler(runtime.triggers, runtime.settings))


def opened_thank_you_and_a_second_order(db: Session, runtime: Runtime) -> Delivery:
    """Ana's first order; its thank-you sent, delivered and opened; a second order of 40.00
    two days later, credited to it."""
    handle(db, runtime, at=T0, event_id="o1", order_id="1", total="30.00", last_name="Pérez")
    waiting = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).one()
    assert sending.deliver(db, waiting.id or 0, now=waiting.send_at, runtime=runtime) == "sent"
    for kind in ("delivered", "open"):
        row = ProviderEvent(
            provider="sendgrid", provider_event_id=f"{kind}-{waiting.id}", type=kind,
            delivery_id=waiting.id, occurred_at=T0 + DAY / 4, received_at=T0 + DAY / 4,
            payload={"event": kind},
        )  # fmt: skip
        db.add(row)
        db.flush()
        feedback.apply(db, row, settings=runtime.settings)
        db.commit()
    handle(db, runtime, at=T0 + 2 * DAY, event_id="o2", order_id="2", total="40.00")
    db.commit()
    return waiting


def cells(page: str, row_id: str) -> list[str]:
    """The text of each cell of the table row with this id, as a reader sees it."""
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert found, f"no row {row_id} on the page"
    texts = re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split()) for text in texts]


def test_the_dashboard_shows_each_triggers_emails_and_revenue_over_the_period(
    db: Session, runtime: Runtime
) -> None:
    opened_thank_you_and_a_second_order(db, runtime)
    current_time.freeze(T0 + 10 * DAY)

    page = studio(runtime).get("/studio/")

    assert page.status_code == 200
    # trigger, state, scheduled, sent, delivered, opened, clicked, converted, revenue, next
    assert cells(page.text, "trigger-thank-you")[:9] == [
        "thank-you order.placed", "enabled", "1", "1", "1 100.0%", "1 100.0%", "0",
        "1 100.0%", "40.00",
    ]  # fmt: skip
    assert cells(page.text, "trigger-win-back")[1:4] == ["enabled", "2", "0"]  # waiting
    assert "Sending is not paused." in page.text
    # Out of a week's window the email is not counted.
    current_time.freeze(T0 + 10 * DAY)
    week = studio(runtime).get("/studio/", params={"days": 7})
    assert cells(week.text, "trigger-thank-you")[2:4] == ["0", "0"]


def test_the_dashboard_says_what_the_plan_expects_a_trigger_to_send(
    db: Session, runtime: Runtime
) -> None:
    now = T0 + DAY
    handle(db, runtime, at=T0, event_id="o1", order_id="1", total="30.00")
    db.commit()
    current_time.freeze(now)

    page = studio(runtime).get("/studio/")

    # Ana's first order, replayed a week on, would be thanked again: one email, one entering.
    assert cells(page.text, "trigger-thank-you")[9] == "1 1 entering"


def test_the_pause_is_shown_with_its_reason_and_lifted_by_its_button(
    db: Session, runtime: Runtime
) -> None:
    pauses.pause(db, "sendgrid", "the API key was refused (401)", now=T0, probe_after_s=3600)
    current_time.freeze(T0 + timedelta(minutes=5))
    client = studio(runtime)

    page = client.get("/studio/")
    assert "Sending through sendgrid is paused" in page.text
    assert "the API key was refused (401)" in page.text
    assert cells(page.text, "trigger-thank-you")[1] == "paused"
    assert cells(page.text, "trigger-birthday")[1] == "paused · holdout 10%"
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token

    answer = client.post("/studio/pauses/lift", data={"provider": "sendgrid", "token": token[1]})

    assert answer.status_code == 200  # followed the 303 back to the dashboard
    assert "Sending through sendgrid resumed" in answer.text
    assert "Sending is not paused." in answer.text
    db.expire_all()
    assert db.exec(select(SendingPause)).all() == []
    line = audit.latest(db)[0]  # after the login's own line
    assert (line.actor, line.action, line.subject) == (
        MARIA,
        "lift-pause",
        "sending:sendgrid",
    )
    assert line.detail == "the API key was refused (401)"


@pytest.mark.parametrize("token", ["", "1700000000.forged"])
def test_the_pause_is_not_lifted_without_the_forms_token(
    db: Session, runtime: Runtime, token: str
) -> None:
    pauses.pause(db, "sendgrid", "the API key was refused (401)", now=T0, probe_after_s=3600)
    current_time.freeze(T0)

    answer = studio(runtime).post(
        "/studio/pauses/lift", data={"provider": "sendgrid", "token": token}
    )

    assert answer.status_code == 403
    db.expire_all()
    assert len(db.exec(select(SendingPause)).all()) == 1
    assert [line for line in audit.latest(db) if line.action == "lift-pause"] == []


def test_a_token_from_another_site_does_not_lift_the_pause(db: Session, runtime: Runtime) -> None:
    pauses.pause(db, "sendgrid", "refused", now=T0, probe_after_s=3600)
    current_time.freeze(T0)
    client = studio(runtime)
    token = re.search(r'name="token" value="([^"]+)"', client.get("/studio/").text)
    assert token
    answer = client.post(
        "/studio/pauses/lift",
        data={"provider": "sendgrid", "token": token[1]},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert len(db.exec(select(SendingPause)).all()) == 1


def test_the_dashboard_pages_ask_for_the_login(runtime: Runtime) -> None:
    off = TestClient(create_app(runtime.settings))
    assert off.get("/studio/").status_code == 404  # no account yet: no studio
    client = studio(runtime, logged_in=False)
    for path in (
        "/studio/",
        "/studio/customers?q=ana",
        "/studio/customers/1",
        "/studio/suppressions",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/studio/login?next=")


def test_a_customer_is_found_by_address_or_name_and_their_timeline_shown(
    db: Session, runtime: Runtime
) -> None:
    opened_thank_you_and_a_second_order(db, runtime)
    handle(
        db, runtime, at=T0, event_id="b1", order_id="9", email="bob@example.com", first_name="Bob"
    )
    db.commit()
    client = studio(runtime)
    ana = db.exec(select(Customer).where(col(Customer.email) == "ana@example.com")).one()
    db.commit()  # end the read: on SQLite every transaction holds the write lock

    for query in ("ana@example.com", "ANA@", "ana", "Ana Pérez", "pér"):
        found = client.get("/studio/customers", params={"q": query})
        assert f'<a href="/studio/customers/{ana.id}">ana@example.com</a>' in found.text, query
        assert "bob@example.com" not in found.text
    nobody = client.get("/studio/customers", params={"q": "zoe%"})
    assert "No customer matches “zoe%”." in nobody.text

    page = client.get(f"/studio/customers/{ana.id}")

    assert page.status_code == 200
    assert f"Customer {ana.id}: ana@example.com" in page.text
    timeline = re.search(r'<table id="timeline">(.*?)</table>', page.text, re.S)
    assert timeline
    assert "order.placed (api)" in timeline[1]
    assert "thank-you: matched" in timeline[1]
    assert "customer.orders_count == 1 is false" in unescape(timeline[1])  # the second order
    deliveries = re.search(r'<table id="deliveries">(.*?)</table>', page.text, re.S)
    assert deliveries
    assert "thank-you" in deliveries[1]
    assert "opened" in deliveries[1]
    assert client.get("/studio/customers/999999").status_code == 404


def test_the_suppression_list_is_newest_first_searchable_and_paged(
    db: Session, runtime: Runtime
) -> None:
    for n in range(55):
        reason = "bounced" if n % 2 else "spamreport"
        db.add(Suppression(email=f"s{n:02}@example.com", reason=reason, created_at=T0 + n * DAY))
    db.commit()
    client = studio(runtime)

    first = client.get("/studio/suppressions")

    rows = re.findall(r"<tr><td>(s\d\d@example.com)</td><td>(\w+)</td><td>([^<]+)</td>", first.text)
    assert rows[0] == ("s54@example.com", "spamreport", "2026-06-27 10:00")
    assert len(rows) == 50
    older = re.search(r'<a id="older" href="([^"]+)"', first.text)
    assert older
    second = client.get(unescape(older[1]))
    assert re.findall(r"<tr><td>(s\d\d@example.com)</td>", second.text) == [
        "s04@example.com", "s03@example.com", "s02@example.com", "s01@example.com",
        "s00@example.com",
    ]  # fmt: skip
    assert 'id="older"' not in second.text

    searched = client.get("/studio/suppressions", params={"q": "S1"})
    assert re.findall(r"<tr><td>(s\d\d@example.com)</td>", searched.text) == [
        f"s{n}@example.com" for n in range(19, 9, -1)
    ]
    none = client.get("/studio/suppressions", params={"q": "_"})
    assert "No suppressed address matches." in none.text
