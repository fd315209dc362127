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

from models import Customer, Delivery, DeliveryStatus, Event
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


ALERTS_TO = "owner@shop.example"


def comments(db: Session) -> list[Event]:
    db.expire_all()
    found = db.exec(select(Event).where(col(Event.type) == "survey.commented")).all()
    db.commit()
    return list(found)


def alerts(db: Session, runtime: Runtime, at: datetime) -> dict[str, Delivery]:
    """The survey's events applied at `at`, and the alerts to the shop they scheduled."""
    scheduler = Scheduler(runtime.triggers, runtime.settings)
    pending = [e.id or 0 for e in [*answers(db), *comments(db)] if e.status == "pending"]
    process_many(db, pending, now=at, scheduler=scheduler)
    rows = db.exec(select(Delivery).where(col(Delivery.trigger).startswith("detractor-"))).all()
    return {row.trigger: row for row in rows}


def outbox(runtime: Runtime, to: str) -> list[EmailMessage]:
    found = []
    for path in sorted(runtime.settings.outbox_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == to:
            found.append(message)
    return found


def test_a_detractors_comment_is_kept_with_their_score_and_the_shop_hears_it_once(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the answer is handed to the workers on it)
) -> None:
    delivery, message = sent_survey(db, runtime)
    link = score_link(message, 3)
    client = TestClient(create_app(runtime.settings))
    current_time.freeze(T0 + timedelta(days=16))

    answered = client.post(link)
    assert (
        'name="comment"' in answered.text and "Möchten Sie uns noch etwas sagen?" in answered.text
    )
    assert client.post(f"{link}/comment", data={"comment": "x" * 2001}).status_code == 422
    current_time.freeze(T0 + timedelta(days=16, minutes=3))  # a while to write it
    written = client.post(f"{link}/comment", data={"comment": "  Zu spät geliefert.  "})
    # The path's score is not trusted: the comment carries the answer first given.
    again = client.post(f"{score_link(message, 10)}/comment", data={"comment": "Doch gut!"})

    assert "Vielen Dank: wir lesen jeden Kommentar." in written.text
    assert "schon beantwortet" in again.text
    [comment] = comments(db)
    assert comment.payload["data"] == {
        "kind": "nps", "score": 3, "comment": "Zu spät geliefert.",
        "delivery_id": delivery.id, "trigger": "nps-survey",
    }  # fmt: skip

    # The customer has since said no to every email: an alert is the shop's, not theirs.
    customer = db.get(Customer, delivery.customer_id)
    assert customer is not None
    customer.accepts_marketing = False
    db.add(customer)
    db.commit()
    shop = Runtime(runtime.settings.model_copy(update={"shop_alerts_to": ALERTS_TO}))
    now = T0 + timedelta(days=16)
    found = alerts(db, shop, now)
    assert set(found) == {"detractor-alert", "detractor-comment"}
    for row in sorted(found.values(), key=lambda row: row.send_at):
        deliver(db, row.id or 0, now=max(now, row.send_at), runtime=shop)
        db.refresh(row)

    assert found["detractor-comment"].status == DeliveryStatus.SENT
    # The alert without the comment waited for one: it came, so that alert never goes.
    assert found["detractor-alert"].status == DeliveryStatus.CANCELLED
    assert str(found["detractor-alert"].reason).startswith("survey.commented at 2026-05-17 10:03")
    [alert] = outbox(shop, ALERTS_TO)
    assert alert["Subject"] == "A detractor: Ana gave 3 out of 10"  # the shop's language
    assert "List-Unsubscribe" not in alert
    text = alert.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "Zu spät geliefert." in body and "lena@example.com" in body
    assert "/u/" not in body  # none of the customer's own links


def test_without_an_address_for_alerts_the_shops_alert_is_skipped_saying_why(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the answer is handed to the workers on it)
) -> None:
    delivery, message = sent_survey(db, runtime)
    client = TestClient(create_app(runtime.settings))
    current_time.freeze(T0 + timedelta(days=16))
    token = score_link(message, 0).split("/")[2]
    assert client.post(f"/s/{token}/2/comment", data={"comment": "Hi"}).status_code == 409

    client.post(score_link(message, 2))
    now = T0 + timedelta(days=16, hours=1)
    row = alerts(db, runtime, now)["detractor-alert"]
    assert deliver(db, row.id or 0, now=now, runtime=runtime) == DeliveryStatus.SKIPPED
    db.refresh(row)
    assert row.reason == "an alert to the shop, and SHOP_ALERTS_TO is not set"
    assert outbox(runtime, ALERTS_TO) == []
    assert delivery.customer_id == row.customer_id  # about the one who answered


def test_a_detractor_who_writes_nothing_reaches_the_shop_half_an_hour_later(
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001  (the answer is handed to the workers on it)
) -> None:
    _, message = sent_survey(db, runtime)
    current_time.freeze(T0 + timedelta(days=16))
    TestClient(create_app(runtime.settings)).post(score_link(message, 6))
    shop = Runtime(runtime.settings.model_copy(update={"shop_alerts_to": ALERTS_TO}))

    row = alerts(db, shop, T0 + timedelta(days=16))["detractor-alert"]
    assert row.send_at == T0 + timedelta(days=16, minutes=30)
    status = deliver(db, row.id or 0, now=row.send_at, runtime=shop)
    db.refresh(row)
    assert status == DeliveryStatus.SENT, row.reason

    [alert] = outbox(shop, ALERTS_TO)
    assert alert["Subject"] == "A detractor: Ana gave 6 out of 10"
    text = alert.get_body(("plain",))
    assert text is not None and "They left no comment." in text.get_content()
