"""One log line an event processed and a delivery decided, carrying ids as fields (what a log
pipeline indexes with LOG_FORMAT=json) and never the customer's address or name."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from models import Delivery
from tests.support.factories import order_event
from worker.delivery.sending import deliver
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_an_event_and_its_thank_you_each_log_a_line_with_their_ids(
    db: Session, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    event = order_event(event_id="o1", order_id="1", at=T0, email="zoe.private@example.com")
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    thank_you = db.exec(
        select(Delivery).where(
            col(Delivery.trigger) == "thank-you", col(Delivery.cause_event_id) == event_id
        )
    ).one()
    assert thank_you.id is not None
    deliver(db, thank_you.id, now=thank_you.send_at + timedelta(minutes=1), runtime=runtime)

    processed = [r for r in caplog.records if getattr(r, "event_id", None) == event_id]
    assert [(r.getMessage(), r.event_type) for r in processed] == [  # type: ignore[attr-defined]
        (f"event {event_id} processed (order.placed)", "order.placed")
    ]
    decided = [r for r in caplog.records if getattr(r, "delivery_id", None) == thank_you.id]
    assert [(r.getMessage(), r.status) for r in decided] == [  # type: ignore[attr-defined]
        (f"delivery {thank_you.id} sent", "sent")
    ]
    assert "zoe.private" not in caplog.text
