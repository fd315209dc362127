"""Each customer's predicted future on their row: `customer.p_alive`, `predicted_orders`, `clv`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from models import Customer, Event, Order
from tests.support.factories import customer_event, order_event
from triggers import Trigger
from triggers.matching import compile_trigger
from worker.intake.ingest import store_events
from worker.measurement import predictions
from worker.measurement.clv import Purchase, summarise
from worker.processing.events import process_many
from worker.rendering.variables import build_context
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def shop_history(db: Session, runtime: Runtime) -> None:
    """Forty customers over two years: steady monthly buyers, some who stopped a year ago, and
    one-time buyers; plus a prospect with no order."""
    rng = random.Random(3)
    prospect = customer_event(event_id="p-1", at=NOW, email="prospect@example.com")
    events = []
    for c in range(40):
        kind = ("steady", "stopped", "once")[c % 3]
        at = NOW - timedelta(days=700 - rng.uniform(0, 30))
        orders = 1 if kind == "once" else 24
        for n in range(orders):
            if kind == "stopped" and at > NOW - timedelta(days=365):
                break
            email, total = f"{kind}-{c}@example.com", f"{rng.uniform(20, 80):.2f}"
            events.append(
                order_event(
                    event_id=f"{c}-{n}", order_id=f"{c}-{n}", at=at, email=email, total=total
                )
            )
            at += timedelta(days=rng.uniform(20, 40))
    ids = store_events(db, events, now=NOW).stored
    process_many(db, ids, now=NOW, scheduler=Scheduler(runtime.triggers, runtime.settings))
    [signed_up] = store_events(db, [prospect], now=NOW).stored
    process_many(db, [signed_up], now=NOW, scheduler=Scheduler(runtime.triggers, runtime.settings))


def customers(db: Session) -> dict[str, Customer]:
    db.expire_all()
    return {c.email.split("@")[0]: c for c in db.exec(select(Customer)).all()}


def test_the_refresh_writes_who_is_likely_to_come_back_and_what_they_are_worth(
    db: Session, runtime: Runtime
) -> None:
    shop_history(db, runtime)

    fitted = predictions.refresh(db, now=NOW, horizon_days=365)

    assert fitted.problem is None, fitted.problem
    assert fitted.purchase is not None and fitted.spend is not None
    found = customers(db)
    steady = [c for name, c in found.items() if name.startswith("steady")]
    stopped = [c for name, c in found.items() if name.startswith("stopped")]
    assert fitted.written == len(found) - 1  # every customer but the prospect, once
    for c in steady + stopped:
        assert c.p_alive is not None and 0 < c.p_alive <= 1
        assert c.predicted_orders is not None and c.clv is not None
    # A monthly buyer still buying is likely alive and worth more than one who stopped.
    assert min(c.p_alive or 0 for c in steady) > max(c.p_alive or 1 for c in stopped)
    assert min(c.clv or 0 for c in steady) > 5 * max(c.clv or 0 for c in stopped)
    # Roughly a year of monthly orders ahead of a steady buyer.
    assert all(6 < (c.predicted_orders or 0) < 18 for c in steady)
    assert (found["prospect"].p_alive, found["prospect"].clv) == (None, None)  # no order yet

    again = predictions.refresh(db, now=NOW, horizon_days=365)
    assert again.written == 0  # nothing changed: nothing written


def test_too_few_customers_leave_the_predictions_empty_and_say_why(
    db: Session, runtime: Runtime
) -> None:
    events = [order_event(event_id="o-1", order_id="1", at=NOW - timedelta(days=3))]
    ids = store_events(db, events, now=NOW).stored
    process_many(db, ids, now=NOW, scheduler=Scheduler(runtime.triggers, runtime.settings))

    fitted = predictions.refresh(db, now=NOW, horizon_days=365)

    assert (
        fitted.problem == "1 customers, 0 with a repeat purchase: too few to fit the purchase"
        " model (it needs 30 and 10)"
    )
    assert [c.p_alive for c in customers(db).values()] == [None]


def test_a_trigger_condition_reads_the_prediction(db: Session, runtime: Runtime) -> None:
    """`customer.p_alive` and `customer.clv` (in the shop's currency) in a `when`."""
    shop_history(db, runtime)
    predictions.refresh(db, now=NOW, horizon_days=365)
    trigger = Trigger.model_validate(
        {"name": "vip-note", "message": "thank_you", "on": "order.placed",
         "when": "customer.p_alive > 0.5 and customer.clv > 100"}
    )  # fmt: skip
    compiled = compile_trigger(runtime.renderer.env, trigger)

    def matches(name: str) -> bool:
        customer = customers(db)[name]
        event = db.exec(select(Event).where(col(Event.customer_id) == customer.id)).first()
        assert event is not None
        context = build_context(
            db, event=event, customer=customer, order=None, settings=runtime.settings, now=NOW
        )
        assert isinstance(context["customer"]["clv"], Decimal)  # 123.45, not minor units
        return compiled.matches(context)

    assert matches("steady-0")
    assert not matches("stopped-1")


def test_the_summary_the_database_sums_is_the_papers_summary_of_each_order(
    db: Session, runtime: Runtime
) -> None:
    shop_history(db, runtime)
    again = order_event(event_id="same-day", order_id="same-day", at=NOW - timedelta(days=200),
                        email="steady-0@example.com", total="10.00")  # fmt: skip
    ids = store_events(db, [again], now=NOW).stored
    process_many(db, ids, now=NOW, scheduler=Scheduler(runtime.triggers, runtime.settings))
    as_of = (NOW - timedelta(days=100)).date()  # later orders are not seen
    each = [
        Purchase(
            customer=o.customer_id, day=o.placed_at.date(), value=o.shop_total - o.shop_refunded
        )
        for o in db.exec(select(Order)).all()
    ]

    summed_ids, summed = predictions.summaries(db, as_of=as_of)

    expected_ids, expected = summarise(each, as_of=as_of, unit_days=predictions.WEEK_DAYS)
    assert summed_ids.tolist() == expected_ids and len(expected_ids) == 40
    for name in ("x", "t_x", "T", "mean_value"):
        assert getattr(summed, name) == pytest.approx(getattr(expected, name)), name
