"""The facts' money: every order counted in the shop's currency, or refused by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from models import Customer, Delivery, Event, EventStatus, Order
from tests.support.factories import order_event
from worker.intake.ingest import store_events
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import Settings

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def handle(db: Session, settings: Settings, runtime: Runtime, **fields: Any) -> Event:
    at = fields.pop("at")
    [event_id] = store_events(db, [order_event(at=at, **fields)], now=at).stored
    process_many(db, [event_id], now=at, scheduler=Scheduler(runtime.triggers, settings))
    db.expire_all()
    return db.get_one(Event, event_id)


def eur_then_yen(db: Session, runtime: Runtime, settings: Settings) -> Event:
    """45.90 EUR, then 5000 JPY a week later, in a shop that counts in euros."""
    assert settings.default_currency == "EUR"
    handle(db, settings, runtime, at=T0, event_id="eur", order_id="1", total="45.90")
    return handle(
        db,
        settings,
        runtime,
        at=T0 + 7 * DAY,
        event_id="jpy",
        order_id="2",
        total="5000",
        currency="JPY",
    )


def ana(db: Session) -> Customer:
    return db.exec(select(Customer)).one()


def upsells(db: Session) -> list[Delivery]:
    return list(db.exec(select(Delivery).where(col(Delivery.trigger) == "upsell")).all())


def test_a_yen_order_in_a_euro_shop_without_a_rate_is_refused_naming_the_currency(
    db: Session, runtime: Runtime
) -> None:
    yen = eur_then_yen(db, runtime, runtime.settings)

    assert yen.status == EventStatus.FAILED
    assert "order 2 is in JPY" in (yen.error or "")
    assert "EXCHANGE_RATES" in (yen.error or "")
    customer = ana(db)
    assert (customer.orders_count, customer.total_spent, customer.currency) == (1, 4590, "EUR")
    assert upsells(db) == []  # 5000 "euros" would have been an unusually large order


def test_a_yen_order_is_converted_by_the_configured_rate_and_is_no_upsell(
    db: Session, runtime: Runtime
) -> None:
    settings = Settings(**{**runtime.settings.model_dump(), "exchange_rates": "JPY=0.0061"})
    yen = eur_then_yen(db, runtime, settings)

    assert yen.status == EventStatus.PROCESSED
    order = db.exec(select(Order).where(col(Order.source_order_id) == "2")).one()
    assert (order.total, order.currency, order.shop_total) == (5000, "JPY", 3050)
    customer = ana(db)
    assert (customer.orders_count, customer.total_spent) == (2, 4590 + 3050)
    assert upsells(db) == []  # 30.50 € is no larger than her usual 45.90 €


def test_an_order_with_a_shop_currency_amount_counts_that_amount(
    db: Session, runtime: Runtime
) -> None:
    shop_total = {"shop_total": {"amount": "31.20", "currency": "EUR"}}
    yen = handle(
        db,
        runtime.settings,
        runtime,
        at=T0,
        event_id="jpy",
        order_id="2",
        total="5000",
        currency="JPY",
        order=shop_total,
    )

    assert yen.status == EventStatus.PROCESSED
    assert ana(db).total_spent == 3120
