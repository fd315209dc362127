"""The clock's membership sweeps on SQLite and PostgreSQL: `membership.renewal_due` once per
period ahead of its end, `membership.lapsed` once when a period and its grace passed without
a payment (a later payment makes a member again), and the yearly dividend: a tenth of the
membership year's spend, once per member and year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from models.tables import EVENTS, LOYALTY_MEMBERSHIPS, LOYALTY_REWARDS
from tests.integration.test_emails import message, send
from tests.support.factories import order_event
from triggers.programme import load_programme
from worker.canonical import CanonicalEvent
from worker.intake.ingest import store_events
from worker.loyalty import membership_sweeps
from worker.loyalty.views import loyalty_view
from worker.processing.events import process_many
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
YEAR = 365 * DAY
PROGRAMME = load_programme(PROJECT_ROOT / "triggers", "paid-membership")
assert PROGRAMME is not None and PROGRAMME.membership is not None
MEMBERSHIP = PROGRAMME.membership


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "paid-membership")


def handle(db: Session, runtime: Runtime, event: CanonicalEvent, *, at: datetime) -> None:
    scheduler = Scheduler(runtime.triggers, runtime.settings, programme=PROGRAMME)
    process_many(db, store_events(db, [event], now=at).stored, now=at, scheduler=scheduler)


def paid(db: Session, runtime: Runtime, *, event_id: str, start: datetime, end: datetime) -> None:
    """Ana's membership paid for the period from `start` to `end` (told at `start`)."""
    event = CanonicalEvent.model_validate(
        {
            "source": "api",
            "id": event_id,
            "type": "membership.paid",
            "occurred_at": start.isoformat(),
            "customer": {"email": "ana@example.com", "first_name": "Ana", "locale": "es"},
            "data": {
                "object": "invoice",
                "subscription": "sub_1",
                "plan": "price_year",
                "period_start": int(start.timestamp()),
                "period_end": int(end.timestamp()),
            },
        }
    )
    handle(db, runtime, event, at=start)


def events(db: Session, event_type: str) -> list[dict[str, Any]]:
    query = select(EVENTS.c.payload).where(EVENTS.c.type == event_type).order_by(EVENTS.c.id)
    return [row.payload["data"] for row in db.execute(query)]


def status(db: Session) -> str:
    return str(db.execute(select(LOYALTY_MEMBERSHIPS.c.status)).scalar_one())


def test_the_renewal_is_announced_once_a_week_ahead_of_the_periods_end(
    db: Session, runtime: Runtime
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)

    assert membership_sweeps.announce_renewals(db, MEMBERSHIP, now=T0 + YEAR - 8 * DAY) == 0
    assert membership_sweeps.announce_renewals(db, MEMBERSHIP, now=T0 + YEAR - 7 * DAY) == 1
    assert membership_sweeps.announce_renewals(db, MEMBERSHIP, now=T0 + YEAR - 2 * DAY) == 0
    assert events(db, "membership.renewal_due") == [
        {"plan": "price_year", "period_end": (T0 + YEAR).isoformat(), "renews": True}
    ]
    # Renewed: the next period's renewal is due a year later, once again.
    paid(db, runtime, event_id="p2", start=T0 + YEAR, end=T0 + 2 * YEAR)
    assert membership_sweeps.announce_renewals(db, MEMBERSHIP, now=T0 + 2 * YEAR - DAY) == 1
    assert len(events(db, "membership.renewal_due")) == 2


def test_a_period_unpaid_past_its_grace_lapses_once_and_a_late_payment_makes_a_member_again(
    db: Session, runtime: Runtime
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)
    currency = runtime.settings.default_currency

    def member_now(at: datetime) -> bool:
        view = loyalty_view(db, PROGRAMME, 1, currency=currency, now=at)  # type: ignore[arg-type]
        return bool(view["membership"]["active"])

    assert member_now(T0 + YEAR + 6 * DAY)  # within the grace: still a member
    assert membership_sweeps.lapse(db, MEMBERSHIP, now=T0 + YEAR + 6 * DAY) == 0
    assert membership_sweeps.lapse(db, MEMBERSHIP, now=T0 + YEAR + 7 * DAY) == 1
    assert membership_sweeps.lapse(db, MEMBERSHIP, now=T0 + YEAR + 8 * DAY) == 0
    assert status(db) == "lapsed"
    assert not member_now(T0 + YEAR + 7 * DAY)
    assert events(db, "membership.lapsed") == [
        {"plan": "price_year", "period_end": (T0 + YEAR).isoformat()}
    ]

    paid(db, runtime, event_id="p2", start=T0 + YEAR + 10 * DAY, end=T0 + 2 * YEAR)
    assert status(db) == "active"
    assert member_now(T0 + YEAR + 11 * DAY)


def test_the_dividend_is_a_tenth_of_the_membership_years_spend_paid_once_a_year(
    db: Session, runtime: Runtime
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)
    for n, (day, total) in enumerate(((10, "120.00"), (200, "80.50"), (400, "300.00"))):
        when = T0 + day * DAY
        if day == 400:
            paid(db, runtime, event_id="p2", start=T0 + YEAR, end=T0 + 2 * YEAR)
        order = order_event(
            event_id=f"o{n}", order_id=str(n), at=when, type="order.paid", total=total
        )
        handle(db, runtime, order, at=when)
    currency = runtime.settings.default_currency

    def pay(at: datetime) -> int:
        return membership_sweeps.pay_dividends(db, PROGRAMME, currency=currency, now=at)  # type: ignore[arg-type]

    assert pay(T0 + YEAR - DAY) == 0  # the year has not ended
    assert pay(T0 + YEAR) == 1
    assert pay(T0 + YEAR + DAY) == 0  # once a year, however often the clock runs
    assert pay(T0 + YEAR + 300 * DAY) == 0
    rows = db.execute(
        select(LOYALTY_REWARDS.c.cause, LOYALTY_REWARDS.c.state, LOYALTY_REWARDS.c.value_minor)
    ).all()
    assert [tuple(row) for row in rows] == [("dividend:1:1", "unlocked", 2005)]  # of 200.50
    # The second year's: its order of 300.00 (a tenth, at most the reward's 200 euros).
    assert pay(T0 + 2 * YEAR) == 1
    assert [row.value_minor for row in db.execute(select(LOYALTY_REWARDS))] == [2005, 3000]


def test_the_clock_runs_the_membership_sweeps_with_the_programmes_daily_work(
    db: Session, runtime: Runtime
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)
    done = clock.sweep_loyalty(db, now=T0 + YEAR - 3 * DAY, runtime=runtime)
    assert (done["renewal_due"], done["lapsed"], done["dividends"]) == (1, 0, 0)
    done = clock.sweep_loyalty(db, now=T0 + YEAR + 8 * DAY, runtime=runtime)
    assert (done["renewal_due"], done["lapsed"]) == (0, 1)


def test_the_renewal_due_sends_the_spanish_member_their_renewal_with_date_and_benefits(
    db: Session, runtime: Runtime
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)
    warned_at = T0 + YEAR - 7 * DAY
    assert membership_sweeps.announce_renewals(db, MEMBERSHIP, now=warned_at) == 1
    waiting = select(EVENTS.c.id).where(EVENTS.c.source == "ladder", EVENTS.c.status == "pending")
    scheduler = Scheduler(runtime.triggers, runtime.settings, programme=PROGRAMME)
    process_many(db, list(db.execute(waiting).scalars()), now=warned_at, scheduler=scheduler)

    delivery = send(db, runtime, "membership-renewal")
    parsed, text, _ = message(runtime, delivery)
    assert parsed["Subject"] == "Tu membresía se renueva pronto, Ana"
    assert "Tu membresía se renueva el 10 de enero de 2027 con la tarjeta" in text
    assert "cada pedido te da 2 veces los puntos y el envío es gratis" in text
