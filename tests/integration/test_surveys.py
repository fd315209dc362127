"""Surveys: the NPS email's one-click scores come back as survey.answered events, once."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, col, select

from models import Delivery, DeliveryStatus, Event
from tests.support.factories import order_event
from tests.support.web import TestClient
from worker import current_time
from worker.delivery.sending import deliver
from worker.delivery.tokens import survey_token
from worker.intake.ingest import store_events
from worker.measurement import surveys
from worker.processing.events import process, process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.web import create_app

# The web app stores the answer on its own connection.
pytestmark = pytest.mark.commits

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def sent_survey(db: Session, shipped: Runtime) -> tuple[Delivery, EmailMessage]:
    """An order fulfilled, the NPS email two weeks later, as the customer receives it (no
    frequency budget: the shop's other notes that fortnight are another test's matter)."""
    budgetless = {"marketing_per_day": 0, "marketing_per_week": 0}
    runtime = Runtime(shipped.settings.model_copy(update=budgetless))
    scheduler = Scheduler(runtime.triggers, runtime.settings)
    placed = order_event(event_id="o-1", order_id="1", at=T0, email="lena@example.com", locale="de")
    fulfilled = order_event(
        event_id="o-1-f", order_id="1", at=T0 + timedelta(days=1), type="order.fulfilled",
        email="lena@example.com", locale="de",
    )  # fmt: skip
    for event_id in store_events(db, [placed, fulfilled], now=T0).stored:
        process(db, event_id, now=T0 + timedelta(days=1), scheduler=scheduler)
    delivery = db.exec(select(Delivery).where(col(Delivery.trigger) == "nps-survey")).one()
    status = deliver(db, delivery.id, now=delivery.send_at, runtime=runtime)  # type: ignore[arg-type]
    db.refresh(delivery)
    assert status == DeliveryStatus.SENT, (delivery.status, delivery.reason)
    [path] = runtime.settings.outbox_dir.glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    db.commit()  # SQLite: end the read, so the web request can write
    return delivery, message


def score_link(message: EmailMessage, score: int) -> str:
    html = message.get_body(("html",))
    assert html is not None
    links = re.findall(r'href="https?://[^/"]+(/s/[^"?]+)', html.get_content())
    assert [int(link.rsplit("/", 1)[1]) for link in links] == list(range(11))
    return str(links[score])


def answers(db: Session) -> list[Event]:
    db.expire_all()
    found = db.exec(select(Event).where(col(Event.type) == "survey.answered")).all()
    db.commit()
    return list(found)


def test_a_click_on_a_score_records_it_once_and_thanks_in_the_customers_language(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the answer is handed to the workers on it)
) -> None:
    delivery, message = sent_survey(db, runtime)
    assert message["Subject"] == f"Eine Frage zu {runtime.settings.shop_name}"
    link = score_link(message, 9)
    client = TestClient(create_app(runtime.settings))

    opened = client.get(link)  # a person, or a mail scanner fetching every link
    assert opened.status_code == 200
    assert '<html lang="de">' in opened.text and "Ihre Antwort: <b>9</b>" in opened.text
    assert answers(db) == []  # a fetch answers nothing: the page's script posts it

    current_time.freeze(T0 + timedelta(days=16))
    recorded = client.post(link)
    again = client.post(score_link(message, 3))  # a second click, another score

    assert "Vielen Dank: Ihre Antwort ist gespeichert." in recorded.text
    assert "Sie haben diese Umfrage schon beantwortet" in again.text
    [answer] = answers(db)
    assert answer.payload["data"] == {
        "kind": "nps", "score": 9, "delivery_id": delivery.id, "trigger": "nps-survey",
    }  # fmt: skip
    process_many(db, [answer.id or 0], now=T0 + timedelta(days=16),
                 scheduler=Scheduler(runtime.triggers, runtime.settings))  # fmt: skip
    assert [a.customer_id for a in answers(db)] == [delivery.customer_id]
    [month] = surveys.by_month(db, since=T0, until=T0 + timedelta(days=60))
    assert (month.month, month.answers, month.promoters, month.nps) == ("2026-05", 1, 1, 100)


def test_a_forged_or_out_of_range_answer_is_refused_and_nothing_stored(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the answer is handed to the workers on it)
) -> None:
    delivery, message = sent_survey(db, runtime)
    client = TestClient(create_app(runtime.settings))
    token = score_link(message, 0).split("/")[2]

    assert client.post(f"/s/{delivery.id}.nps.forged/9").status_code == 404
    assert client.post(f"/s/{token}/11").status_code == 422
    assert "nps answers are 0-10" in client.post(f"/s/{token}/11").text
    other = survey_token(b"another shop's key", delivery.id or 0, "nps")
    assert client.post(f"/s/{other}/9").status_code == 404
    assert answers(db) == []


def test_a_previews_link_records_nothing(db: Session, runtime: Runtime) -> None:
    token = survey_token(runtime.settings.secret_key(), 0, "nps")
    page = TestClient(create_app(runtime.settings)).post(f"/s/{token}/8")
    assert "from a preview or a test email: no answer is saved" in page.text
    assert answers(db) == []
