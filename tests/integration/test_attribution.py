"""Attribution: an order credited to the last email its customer got within the window, net of
refunds, kept current as orders, refunds and provider events arrive."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Attribution, Customer, Delivery, DeliveryStatus, Order, ProviderEvent
from tests.support.factories import order_event
from worker.delivery import feedback, sending
from worker.intake.ingest import store_events
from worker.measurement.performance import by_trigger, performance
from worker.privacy.exports import export
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def handle(db: Session, runtime: Runtime, *, at: datetime, **fields: Any) -> None:
    [event_id] = store_events(db, [order_event(at=at, **fields)], now=at).stored
    process(db, event_id, now=at, scheduler=Scheduler(runtime.triggers, runtime.settings))


def thank_you_sent(db: Session, runtime: Runtime) -> Delivery:
    """Ana's first order (30.00) at T0; its thank-you goes two hours later."""
    handle(db, runtime, at=T0, event_id="o1", order_id="1", total="30.00")
    waiting = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).one()
    assert sending.deliver(db, waiting.id or 0, now=waiting.send_at, runtime=runtime) == "sent"
    db.expire_all()
    sent = db.get(Delivery, waiting.id)
    assert sent is not None
    return sent


def credited(db: Session) -> dict[str, int]:
    """Order id on the platform → the delivery it is credited to."""
    db.expire_all()
    rows = db.exec(select(Attribution)).all()
    orders = {a.order_id: a.delivery_id for a in rows}
    return {o.source_order_id: orders[o.id] for o in db.exec(select(Order)).all() if o.id in orders}


def thank_you_line(db: Session) -> Any:
    lines = performance(db, since=None, until=None, default_locale="en")
    return next(t for t in by_trigger(lines) if t.trigger == "thank-you")


def test_an_order_two_days_after_an_email_is_credited_to_it_net_of_its_refund(
    db: Session, runtime: Runtime
) -> None:
    email = thank_you_sent(db, runtime)
    handle(db, runtime, at=T0 + 2 * DAY, event_id="o2", order_id="2", total="40.00")

    assert credited(db) == {"2": email.id}  # the first order came before any email
    handle(
        db,
        runtime,
        at=T0 + 3 * DAY,
        event_id="r2",
        order_id="2",
        total="40.00",
        type="order.refunded",
        order={"refund": {"id": "r-15", "amount": "15.00"}},
    )

    line = thank_you_line(db)
    assert (line.sent, line.converted, line.revenue) == (1, 1, 2500)
    assert line.revenue_per_recipient == 2500


def test_a_cancelled_order_earns_its_email_nothing(db: Session, runtime: Runtime) -> None:
    thank_you_sent(db, runtime)
    handle(db, runtime, at=T0 + DAY, event_id="o2", order_id="2", total="40.00")
    handle(
        db, runtime, at=T0 + DAY, event_id="c2", order_id="2", total="40.00",
        type="order.cancelled",
    )  # fmt: skip

    line = thank_you_line(db)
    assert (line.converted, line.revenue) == (0, 0)


def test_an_order_after_the_five_day_window_is_credited_to_no_email(
    db: Session, runtime: Runtime
) -> None:
    email = thank_you_sent(db, runtime)
    assert email.sent_at is not None
    late = email.sent_at + 5 * DAY + timedelta(minutes=1)
    handle(db, runtime, at=late, event_id="o2", order_id="2", total="40.00")

    assert credited(db) == {}


def provider_event(
    db: Session, runtime: Runtime, delivery: Delivery, kind: str, at: datetime
) -> None:
    """SendGrid's word about the delivery, stored and applied as the webhook does."""
    customer = db.get(Customer, delivery.customer_id)
    assert customer is not None
    row = ProviderEvent(
        provider="sendgrid",
        provider_event_id=f"{kind}-{delivery.id}",
        type=kind,
        delivery_id=delivery.id,
        occurred_at=at,
        received_at=at,
        payload={"event": kind, "email": customer.email, "type": "bounce"},
    )
    db.add(row)
    db.flush()
    feedback.apply(db, row, settings=runtime.settings)
    db.commit()


def test_a_bounce_reported_after_the_order_takes_the_credit_away(
    db: Session, runtime: Runtime
) -> None:
    email = thank_you_sent(db, runtime)
    handle(db, runtime, at=T0 + DAY, event_id="o2", order_id="2", total="40.00")
    assert credited(db) == {"2": email.id}

    provider_event(db, runtime, email, "bounce", T0 + DAY + timedelta(hours=1))

    assert credited(db) == {}


def test_a_trigger_counting_clicks_earns_the_order_once_the_click_arrives(
    db: Session, runtime: Runtime
) -> None:
    email = thank_you_sent(db, runtime)
    # As if thank-you.toml said `attribution = "clicked"` when it was scheduled.
    db.execute(update(Delivery).where(col(Delivery.id) == email.id).values(attribution="clicked"))
    db.commit()
    handle(db, runtime, at=T0 + DAY, event_id="o2", order_id="2", total="40.00")
    assert credited(db) == {}  # received, not clicked: no credit

    provider_event(db, runtime, email, "click", T0 + 12 * timedelta(hours=1))  # before the order

    assert credited(db) == {"2": email.id}
    line = thank_you_line(db)
    assert (line.clicked, line.converted, line.revenue) == (1, 1, 4000)
    assert db.exec(select(Delivery).where(col(Delivery.id) == email.id)).one().status == (
        DeliveryStatus.CLICKED
    )


def test_the_customers_export_says_which_email_earned_each_order(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    email = thank_you_sent(db, runtime)
    handle(db, runtime, at=T0 + DAY, event_id="o2", order_id="2", total="40.00")
    ana = db.exec(select(Customer)).one()

    path = export(db, ana, source="cli", reference=None, now=T0 + 2 * DAY, into=tmp_path)

    [credit] = json.loads(path.read_text(encoding="utf-8"))["attributions"]
    assert (credit["delivery_id"], credit["trigger"], credit["rule"]) == (
        email.id,
        "thank-you",
        "received",
    )
