"""The emails customers get: their language and segment, formatted their way, ready to send."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Event
from tests.support.factories import order_event, shipped_message
from worker.audience import recommendations
from worker.delivery.sending import deliver
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def place(db: Session, runtime: Runtime, n: int, *, email_: str, locale: str, at: datetime) -> None:
    event = order_event(
        event_id=f"ord-{n}", order_id=str(n), at=at, email=email_, first_name="Lena",
        locale=locale, total="1234.50",
    )  # fmt: skip
    [event_id] = store_events(db, [event], now=at).stored
    process(db, event_id, now=at, scheduler=Scheduler(runtime.triggers, runtime.settings))


def send(db: Session, runtime: Runtime, trigger: str, *, now: datetime | None = None) -> Delivery:
    """Sends the trigger's one scheduled delivery at `now`, or when it is due."""
    waiting = col(Delivery.status) == DeliveryStatus.SCHEDULED
    delivery = db.exec(select(Delivery).where(col(Delivery.trigger) == trigger, waiting)).one()
    assert delivery.id is not None
    now = delivery.send_at if now is None else now
    status = deliver(db, delivery.id, now=now, runtime=runtime)
    db.expire_all()
    assert status == DeliveryStatus.SENT, db.get_one(Delivery, delivery.id).reason
    db.expire_all()
    return db.get_one(Delivery, delivery.id)


def message(runtime: Runtime, delivery: Delivery) -> tuple[EmailMessage, str, str]:
    # Its file is `<id, 9 digits>-<digest>.eml` (providers.delivery_key): `*<id>*` would also
    # match another delivery whose digest holds those digits.
    [path] = Path(runtime.settings.outbox_dir).glob(f"{delivery.id:09d}-*.eml")
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    return parsed, text.get_content(), html.get_content()


def test_a_german_customer_gets_a_german_thank_you_with_euros_the_german_way(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, email_="lena@example.com", locale="de_DE", at=T0)
    delivery = send(db, runtime, "thank-you", now=T0 + timedelta(hours=2))
    folder = shipped_message("thank-you", delivery.customer_id)  # its A/B test's variant
    assert delivery.variant == f"{folder}/default.de.html.j2"
    parsed, text, html = message(runtime, delivery)
    assert (
        parsed["Subject"]
        == {
            "thank_you": "Danke für Ihre erste Bestellung, Lena!",
            "thank_you_b": "So geht es mit Ihrer ersten Bestellung weiter, Lena",
        }[folder]
    )
    assert "Hallo Lena," in text
    assert "Summe 1.234,50\xa0€" in text
    assert "vom 1. März 2026" in text
    assert "Ladder Demo Shop · 1 Market Street, Springfield" in text
    assert 'style="' in html and "<style>@media" in html  # inlined, with rules for phones
    assert "utm_source=ladder&amp;utm_medium=email&amp;utm_campaign=thank-you" in html
    unsubscribe = str(parsed["List-Unsubscribe"]).strip().strip("<>")
    assert f'href="{unsubscribe}"' in html  # untagged: the same link as the header's
    assert "/preferences" in html
    assert len(html.encode()) < 102 * 1024


def test_a_german_champion_gets_the_champions_win_back_with_recommendations(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, email_="anna@example.com", locale="en", at=T0 - timedelta(days=1))
    other = order_event(
        event_id="ord-2", order_id="2", at=T0 - timedelta(days=1), email="anna@example.com",
        locale="en",
    )  # fmt: skip
    assert other.order is not None
    other.order.lines[0].product_id = "p-77"
    other.order.lines[0].title = "Teekanne aus Gusseisen"
    [event_id] = store_events(db, [other], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    place(db, runtime, 3, email_="lena@example.com", locale="de", at=T0 - timedelta(hours=1))
    db.execute(update(Customer).values(segment="champions"))  # as the daily refresh would
    db.commit()
    recommendations.refresh(db)
    place(db, runtime, 4, email_="lena@example.com", locale="de", at=T0)

    # The thank-yous, nudges and the other orders' waits were settled weeks ago; left due,
    # they would take the budget. Lena's fourth order's win-back is the one to send.
    fourth = db.exec(select(Event).where(col(Event.source_event_id) == "ord-4")).one()
    db.execute(
        update(Delivery)
        .where((col(Delivery.trigger) != "win-back") | (col(Delivery.cause_event_id) != fourth.id))
        .values(status=DeliveryStatus.CANCELLED)
    )
    db.commit()
    delivery = send(db, runtime, "win-back")  # when her usual rhythm says she is overdue

    assert delivery.variant == "win_back/champions.de.html.j2"
    assert delivery.segment == "champions"
    parsed, text, _ = message(runtime, delivery)
    assert parsed["Subject"] == "Ihre Lieblingsstücke warten auf Sie"
    assert "Teekanne aus Gusseisen (http://" not in text
    assert "Teekanne aus Gusseisen (https://shop.example/products/p-77?utm_source=ladder" in text
    assert "Als Dankeschön für 2 Bestellungen (insgesamt 2.469,00\xa0€)" in text
