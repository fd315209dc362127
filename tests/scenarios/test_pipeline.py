"""One event through to one email, on SQLite and PostgreSQL, through the in-process broker."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import Customer, Delivery, Event
from tests.support.brokers import drain
from tests.support.factories import order_event, shipped_message
from worker import current_time
from worker.queue import clock
from worker.queue.dispatch import ingest
from worker.runtime import Runtime

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_a_first_order_gets_one_thank_you_two_hours_later(
    db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    current_time.freeze(T0)
    event = order_event(event_id="ord-1-placed", order_id="1", at=T0, locale="es")
    ingest(db, [event], now=T0)
    drain(stub_broker)

    customer = db.exec(select(Customer)).one()
    assert (customer.orders_count, customer.total_spent, customer.average_order_value) == (
        1,
        4590,
        4590,
    )
    thank_you = db.exec(select(Delivery).where(Delivery.trigger == "thank-you")).one()
    assert thank_you.status == "scheduled"
    assert thank_you.send_at == T0 + timedelta(hours=2)

    later = T0 + timedelta(hours=2, minutes=1)
    current_time.freeze(later)
    report = clock.tick(db, now=later, runtime=runtime)
    assert report.deliveries == 1
    drain(stub_broker)

    db.expire_all()
    sent = db.get_one(Delivery, thank_you.id)
    assert sent.status == "sent"
    assert sent.variant == f"{shipped_message('thank-you', sent.customer_id)}/default.es.html.j2"
    # The clock's first tick of the day refreshed segments; the email records the one it met.
    assert sent.segment is not None
    assert sent.segment == db.get_one(Customer, customer.id).segment
    files = list(Path(runtime.settings.outbox_dir).glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["To"] == "ana@example.com"
    assert (
        message["Subject"]
        == {
            "thank_you": "Gracias por tu primer pedido, Ana",
            "thank_you_b": "Lo que sigue con tu primer pedido, Ana",
        }[shipped_message("thank-you", sent.customer_id)]
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    assert parts == ["text/plain", "text/html"]


def test_the_same_event_posted_twice_is_one_row(db: Session, runtime: Runtime) -> None:  # noqa: ARG001
    event = order_event(event_id="ord-2-placed", order_id="2", at=T0)
    first = ingest(db, [event], now=T0)
    second = ingest(db, [event, event], now=T0)
    assert (len(first.stored), first.duplicates) == (1, 0)
    assert (len(second.stored), second.duplicates) == (0, 2)
    assert len(db.exec(select(Event)).all()) == 1
