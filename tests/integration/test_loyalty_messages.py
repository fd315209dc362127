"""The loyalty emails: an order's points, told an hour after it with the balance and the way
to the next tier, and a congratulation on moving up, in the customer's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import DELIVERIES, EVENTS
from tests.integration.test_emails import message, send
from tests.integration.test_loyalty_ledger import handle, programme_runs, scheduler
from worker.loyalty import codes
from worker.processing.events import process_many
from worker.queue import clock
from worker.runtime import Runtime

__all__ = ["programme_runs"]  # the autouse fixture: the shop runs the shipped programme

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def process_own_events(db: Session, runtime: Runtime, *, at: datetime) -> None:
    """What the clock's relay does with the programme's events: hand them to `process`."""
    waiting = select(EVENTS.c.id).where(EVENTS.c.source == "ladder", EVENTS.c.status == "pending")
    process_many(db, list(db.execute(waiting).scalars()), now=at, scheduler=scheduler(runtime))


def scheduled(db: Session) -> list[str]:
    query = select(DELIVERIES.c.trigger).where(
        DELIVERIES.c.status == DeliveryStatus.SCHEDULED.value
    )
    return sorted(db.execute(query).scalars())


def test_a_german_order_earns_points_told_in_german_with_the_way_to_silver(
    db: Session, runtime: Runtime
) -> None:
    # Her first order's points came with the welcome (test_loyalty_moments.py), its thank-you
    # the next day (the budget's one a day): this week's budget is hers again.
    first = T0 - 8 * DAY
    handle(db, runtime, at=first, event_id="e0", order_id="0", total="50.00", locale="de")
    process_own_events(db, runtime, at=first)
    assert "points-earned" not in scheduled(db)
    send(db, runtime, "loyalty-welcome")
    send(db, runtime, "thank-you", now=first + DAY + timedelta(hours=2))
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="100.00", locale="de")
    process_own_events(db, runtime, at=T0)

    assert "points-earned" in scheduled(db)
    delivery = send(db, runtime, "points-earned")
    assert delivery.send_at == T0 + timedelta(hours=1)
    parsed, text, _ = message(runtime, delivery)
    assert parsed["Subject"] == "Ihre Bestellung bringt Ihnen 100 Punkte"
    assert "Jetzt einlösbar: 0. Noch unterwegs: 150." in text
    assert "Mit weiteren 100,00\xa0€ Einkaufswert" in text  # 250 € for silver
    assert "Stufe Silber (60 % des Weges" in text


def test_moving_up_to_silver_sends_a_congratulation(db: Session, runtime: Runtime) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="300.00")
    process_own_events(db, runtime, at=T0)

    delivery = send(db, runtime, "tier-up")
    parsed, text, _ = message(runtime, delivery)
    assert parsed["Subject"] == "Welcome to Silver, Ana"
    assert "every order earns you 1.25 times the points" in text
    assert "Next up: Gold, 10 % of the way there." in text  # 300 of 250 → 750


def test_a_reward_unlocked_sends_its_code_in_the_customers_language(
    db: Session, runtime: Runtime
) -> None:
    codes.import_pool(db, "five-off", ["SPRING-A1"], source="shopify", now=T0)
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="500.00", locale="es")
    db.commit()
    clock.sweep_loyalty(db, now=T0 + 31 * DAY, runtime=runtime)
    process_own_events(db, runtime, at=T0 + 31 * DAY)

    delivery = send(db, runtime, "reward-unlocked")
    parsed, text, _ = message(runtime, delivery)
    # A long non-ASCII subject is folded after `Subject:` (providers' to_mime), which Python's
    # parser reads back with the fold's space in front; mail clients trim it.
    assert parsed["Subject"].lstrip() == "Tu recompensa ya está aquí, Ana: código SPRING-A1"
    assert "has desbloqueado una recompensa con 500 de tus puntos" in text
    assert "5,00\xa0€ de descuento en tu próximo pedido" in text
    assert "Úsala antes del 1 de julio de 2026." in text  # 90 days after 2 April
    assert "Tu código: SPRING-A1." in text
