"""The programme's common moments besides an order's points, each driven through the real path
and sent in the customer's language: a welcome with a customer's first points, points about to
lapse (the clock's daily sweep), and a member told how to keep their tier when its grace starts
(the clock's daily review), once per grace."""

# ruff: noqa: RUF001  (the Russian email's copy is the point of the welcome's test)

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from models import Customer, DeliveryStatus
from models.tables import DELIVERIES, EVENTS
from tests.integration.test_emails import message, send
from tests.integration.test_loyalty_ledger import (
    PROGRAMME,
    handle,
    own_events,
    programme_runs,
)
from tests.integration.test_loyalty_messages import process_own_events
from tests.support.factories import order_event
from triggers.programme import Earn
from worker.intake.ingest import store_events
from worker.loyalty import ledger
from worker.processing.events import process_many
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

__all__ = ["programme_runs"]  # the autouse fixture: the shop runs the shipped programme


@pytest.fixture(autouse=True)
def roomy_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests send one moment each, months after orders whose own emails they never
    send (due, they would count against the frequency budget): the budget is not tested here."""
    monkeypatch.setenv("MARKETING_PER_DAY", "10")
    monkeypatch.setenv("MARKETING_PER_WEEK", "20")


T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def deliveries_of(db: Session, trigger: str) -> list[Any]:
    d = DELIVERIES.c
    query = select(d.message, d.status, d.send_at).where(d.trigger == trigger).order_by(d.id)
    return list(db.execute(query))


def ids_of(db: Session, event_type: str) -> list[str]:
    query = select(EVENTS.c.source_event_id).where(EVENTS.c.type == event_type)
    return list(db.execute(query.order_by(EVENTS.c.id)).scalars())


def order(db: Session, runtime: Runtime, *, at: datetime, n: int, total: str, **kw: Any) -> None:
    """Order `n` told and recorded, and the programme's events it made processed."""
    handle(db, runtime, at=at, event_id=f"e{n}", order_id=str(n), total=total, **kw)
    process_own_events(db, runtime, at=at)


def test_a_first_order_welcomes_the_customer_in_russian_with_the_tiers_once(
    db: Session, runtime: Runtime
) -> None:
    order(db, runtime, at=T0, n=1, total="120.00", locale="ru")
    order(db, runtime, at=T0 + HOUR, n=1, total="120.00", locale="ru")  # told again
    order(db, runtime, at=T0 + 2 * HOUR, n=2, total="30.00", locale="ru")

    assert own_events(db, "loyalty.joined") == [
        {"programme": "points-and-tiers", "points": 0, "pending": 120}
    ]
    assert len(ids_of(db, "loyalty.joined")) == 1
    [welcome] = deliveries_of(db, "loyalty-welcome")
    assert welcome.message == "loyalty_welcome"
    assert welcome.send_at == T0 + HOUR  # in the place of the order's points-earned
    assert len(deliveries_of(db, "points-earned")) == 1  # order 2's: order 1's are welcomed
    delivery = send(db, runtime, "loyalty-welcome")
    parsed, text, html = message(runtime, delivery)
    assert parsed["Subject"].lstrip() == (
        "Добро пожаловать в нашу программу лояльности, Ana: 120 баллов для начала"
    )
    assert "В пути 120 баллов" in text
    assert "каждый заказ приносит 1 балл за каждые 1,00\xa0€ покупки" in text
    assert "«Серебро»: от 250,00\xa0€, баллы × 1,25" in text
    assert "«Золото»: от 750,00\xa0€, баллы × 1,5" in text
    assert f"{runtime.settings.public_url.rstrip('/')}/l/" in html  # the loyalty page


def test_where_the_paid_order_earns_the_welcome_waits_for_it_not_for_the_placed_one(
    db: Session, runtime: Runtime
) -> None:
    """The placed order locks (and so creates) the member with nothing earned: no welcome yet;
    the paid one earns their first points, and welcomes them."""
    assert PROGRAMME is not None
    paid = PROGRAMME.model_copy(update={"earn": Earn(on="order.paid")})
    on_paid = Scheduler(runtime.triggers, runtime.settings, programme=paid)
    for event_id, event_type, at in (("p1", "order.placed", T0), ("x1", "order.paid", T0 + HOUR)):
        event = order_event(at=at, event_id=event_id, order_id="1", total="80.00", type=event_type)
        process_many(db, store_events(db, [event], now=at).stored, now=at, scheduler=on_paid)
        if event_type == "order.placed":
            assert own_events(db, "loyalty.joined") == []

    assert own_events(db, "loyalty.joined") == [
        {"programme": "points-and-tiers", "points": 0, "pending": 80}
    ]


def test_a_customer_whose_ledger_began_with_the_shops_correction_is_welcomed_by_their_first_order(
    db: Session, runtime: Runtime
) -> None:
    """A correction by the shop (goodwill points before any order) does not make a member,
    and must not keep their first points from welcoming them."""
    ana = Customer(email="ana@example.com", first_name="Ana", created_at=T0 - DAY)
    db.add(ana)
    db.flush()
    assert ana.id is not None
    ledger.adjust(db, customer_id=ana.id, points=50, reason="sorry for the delay", key="k1",
                  now=T0 - DAY)  # fmt: skip
    db.commit()

    order(db, runtime, at=T0, n=1, total="80.00")

    assert own_events(db, "loyalty.joined") == [
        {"programme": "points-and-tiers", "points": 50, "pending": 80}
    ]
    assert [e["first"] for e in own_events(db, "points.earned")] == [True]


def test_points_about_to_lapse_are_told_in_german_with_their_date_and_balance(
    db: Session, runtime: Runtime
) -> None:
    order(db, runtime, at=T0, n=1, total="40.00", locale="de")
    clock.tick(db, now=T0 + 31 * DAY, runtime=runtime)  # approved: 40 to spend
    warn_day = T0 + 335 * DAY + 2 * HOUR  # a month before the year is up

    assert clock.tick(db, now=warn_day, runtime=runtime).loyalty["expiring"] == 1
    process_own_events(db, runtime, at=warn_day)

    [warning] = deliveries_of(db, "points-expiring")
    assert (warning.message, warning.send_at) == ("points_expiring", T0 + 336 * DAY)  # 10:00
    delivery = send(db, runtime, "points-expiring")
    parsed, text, html = message(runtime, delivery)
    assert parsed["Subject"] == "Ihre 40 Punkte verfallen am 4. Mai 2027"
    assert "Sie haben 40 Punkte bei uns gesammelt, die am 4. Mai 2027 verfallen." in text
    assert "Bestellen und Punkte behalten" in text
    assert f"{runtime.settings.public_url.rstrip('/')}/l/" in html


def test_an_order_before_the_warning_goes_out_cancels_it(db: Session, runtime: Runtime) -> None:
    order(db, runtime, at=T0, n=1, total="40.00", locale="es")
    clock.tick(db, now=T0 + 31 * DAY, runtime=runtime)
    warn_day = T0 + 335 * DAY + 2 * HOUR
    clock.tick(db, now=warn_day, runtime=runtime)
    process_own_events(db, runtime, at=warn_day)

    order(db, runtime, at=warn_day + 2 * HOUR, n=2, total="15.00", locale="es")

    [warning] = deliveries_of(db, "points-expiring")
    assert warning.status == DeliveryStatus.CANCELLED.value


def test_a_member_below_silver_is_told_in_spanish_how_to_keep_it_once_per_grace(
    db: Session, runtime: Runtime
) -> None:
    order(db, runtime, at=T0, n=1, total="300.00", locale="es")  # silver at once
    order(db, runtime, at=T0 + 200 * DAY, n=2, total="100.00", locale="es")
    review_day = T0 + 366 * DAY - 4 * HOUR  # order 1 has left the 12 months: 100 of 250

    clock.tick(db, now=review_day, runtime=runtime)
    process_own_events(db, runtime, at=review_day)
    clock.tick(db, now=review_day + DAY, runtime=runtime)  # the grace runs: nothing new
    process_own_events(db, runtime, at=review_day + DAY)

    grace_ends = (review_day + 30 * DAY).isoformat()
    assert own_events(db, "tier.at_risk") == [
        {
            "tier": "silver",
            "tiers_by": "spend",
            "figure": "100",
            "threshold": "250",
            "to_keep": "150",
            "grace_ends": grace_ends,
        }
    ]
    [told] = deliveries_of(db, "tier-at-risk")
    assert (told.message, told.send_at) == ("tier_at_risk", T0 + 366 * DAY)
    delivery = send(db, runtime, "tier-at-risk")
    parsed, text, _ = message(runtime, delivery)
    # A long non-ASCII subject comes back folded (see test_loyalty_messages.py), its no-break
    # space as a plain one.
    subject = parsed["Subject"].strip().replace("\xa0", " ")
    assert subject == "Conserva tu nivel Plata, Ana: te faltan 150,00 €"
    assert "En los últimos doce meses tus pedidos suman 100,00\xa0€" in text
    assert "el nivel Plata empieza en 250,00\xa0€" in text
    assert "Con 150,00\xa0€ más en compras antes del 4 de junio de 2027" in text
    assert "con 1,25 veces los puntos en cada pedido" in text

    # Back at silver within the grace (300 of 250), then below it again when order 2 leaves
    # the 12 months (200 of 250): a new grace, told again.
    order(db, runtime, at=T0 + 370 * DAY, n=3, total="200.00", locale="es")
    clock.tick(db, now=T0 + 371 * DAY, runtime=runtime)
    assert len(own_events(db, "tier.at_risk")) == 1
    clock.tick(db, now=T0 + 566 * DAY, runtime=runtime)
    process_own_events(db, runtime, at=T0 + 566 * DAY)

    _, second = own_events(db, "tier.at_risk")
    assert (second["tier"], second["figure"], second["to_keep"]) == ("silver", "200", "50")
    assert len(set(ids_of(db, "tier.at_risk"))) == 2
    assert [row.status for row in deliveries_of(db, "tier-at-risk")] == ["sent", "scheduled"]
