"""Refunds: an order counts net of what was given back, and stops counting only when all was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Order, OrderRefund
from tests.support.factories import order_event
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def handle(db: Session, runtime: Runtime, *, at: datetime, **fields: Any) -> None:
    [event_id] = store_events(db, [order_event(at=at, **fields)], now=at).stored
    process(db, event_id, now=at, scheduler=Scheduler(runtime.triggers, runtime.settings))


def refund(
    db: Session, runtime: Runtime, event_id: str, amount: str | None, *, refund_id: str | None
) -> None:
    """A refund of order 2 (40.00), with `amount` (None: in full) and the platform's id."""
    given = None if amount is None else {"refund": {"id": refund_id, "amount": amount}}
    handle(
        db,
        runtime,
        at=T0 + DAY,
        event_id=event_id,
        order_id="2",
        total="40.00",
        type="order.refunded",
        order=given,
    )


def facts(db: Session) -> tuple[int, int, int]:
    db.expire_all()
    ana = db.exec(select(Customer)).one()
    return ana.orders_count, ana.total_spent, ana.average_order_value


def order_two(db: Session) -> Order:
    return db.exec(select(Order).where(col(Order.source_order_id) == "2")).one()


def upsell(db: Session) -> Delivery:
    db.expire_all()
    return db.exec(select(Delivery).where(col(Delivery.trigger) == "upsell")).one()


def two_orders(db: Session, runtime: Runtime) -> None:
    """20.00 ten days ago, then 40.00 now: twice her usual, so the upsell waits to go."""
    handle(db, runtime, at=T0 - 10 * DAY, event_id="o1", order_id="1", total="20.00")
    handle(db, runtime, at=T0, event_id="o2", order_id="2", total="40.00")
    assert upsell(db).status == DeliveryStatus.SCHEDULED


def test_a_refund_of_5_of_40_keeps_the_order_counted_with_35_net_and_the_upsell_waiting(
    db: Session, runtime: Runtime
) -> None:
    two_orders(db, runtime)
    refund(db, runtime, "r-5", "5.00", refund_id="5001")

    assert facts(db) == (2, 2000 + 3500, (2000 + 3500) // 2)
    order = order_two(db)
    assert (order.status, order.refunded) == ("placed", 500)
    assert upsell(db).status == DeliveryStatus.SCHEDULED  # a partial refund cancels nothing


def test_refunds_that_reach_the_total_stop_the_order_counting_and_cancel_the_upsell(
    db: Session, runtime: Runtime
) -> None:
    two_orders(db, runtime)
    refund(db, runtime, "r-5", "5.00", refund_id="5001")
    refund(db, runtime, "r-35", "35.00", refund_id="5002")

    assert facts(db) == (1, 2000, 2000)
    order = order_two(db)
    assert (order.status, order.refunded, order.shop_refunded) == ("refunded", 4000, 4000)
    assert upsell(db).status == DeliveryStatus.CANCELLED


def test_a_refund_without_an_amount_refunds_the_order_in_full(
    db: Session, runtime: Runtime
) -> None:
    two_orders(db, runtime)
    refund(db, runtime, "r-all", None, refund_id=None)

    assert facts(db) == (1, 2000, 2000)
    assert order_two(db).status == "refunded"
    assert upsell(db).status == DeliveryStatus.CANCELLED


def test_the_same_refund_under_two_event_ids_counts_once(db: Session, runtime: Runtime) -> None:
    two_orders(db, runtime)
    refund(db, runtime, "webhook-refund", "5.00", refund_id="5001")
    refund(db, runtime, "imported-refund", "5.00", refund_id="5001")

    assert order_two(db).refunded == 500
    assert len(db.exec(select(OrderRefund)).all()) == 1
    assert facts(db)[1] == 2000 + 3500
