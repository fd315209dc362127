"""The daily date sweep: birthdays, anniversaries and calendar dates, once a year each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, col, select

from models import Customer, Event
from triggers import Trigger
from worker.audience import dates
from worker.canonical import CanonicalEvent

NOW = datetime(2027, 2, 27, 0, 5, tzinfo=UTC)
BIRTHDAY = Trigger(name="birthday", message="birthday", on="date:customer.birthday")
ANNIVERSARY = Trigger(name="anniversary", message="anniv", on="date:customer.first_order_at")
HOLIDAY = Trigger(name="holiday", message="holiday", on="date:02-28")


def add(db: Session, email: str, *, consent: bool = True, **fields: Any) -> None:
    db.add(Customer(email=email, accepts_marketing=consent, created_at=NOW, **fields))


def events_of(db: Session, entry: str) -> dict[str, Event]:
    found = db.exec(select(Event).where(col(Event.type) == entry)).all()
    emails = {c.id: c.email for c in db.exec(select(Customer)).all()}
    return {emails[e.customer_id]: e for e in found}


def test_the_sweep_finds_birthdays_anniversaries_and_the_holiday_of_the_day(db: Session) -> None:
    add(db, "today@example.com", birthday=date(1990, 2, 28))
    add(db, "leap@example.com", birthday=date(2000, 2, 29))  # 2027 has no 29 February
    add(db, "tomorrow@example.com", birthday=date(1990, 3, 1))
    add(db, "no-consent@example.com", birthday=date(1990, 2, 28), consent=False)
    add(db, "buyer@example.com", first_order_at=datetime(2025, 2, 28, 15, tzinfo=UTC))
    add(db, "this-year@example.com", first_order_at=datetime(2027, 2, 28, 1, tzinfo=UTC))
    db.commit()

    added = dates.sweep(db, [BIRTHDAY, ANNIVERSARY, HOLIDAY], day=date(2027, 2, 28), now=NOW)

    assert set(events_of(db, "date:customer.birthday")) == {"today@example.com", "leap@example.com"}
    assert set(events_of(db, "date:customer.first_order_at")) == {"buyer@example.com"}
    assert len(events_of(db, "date:02-28")) == 5  # everyone who accepts marketing
    assert added == {
        "date:02-28": 5,
        "date:customer.birthday": 2,
        "date:customer.first_order_at": 1,
    }
    event = events_of(db, "date:customer.birthday")["today@example.com"]
    parsed = CanonicalEvent.model_validate(event.payload)  # `process` reads it like any other
    assert (parsed.source, parsed.type, parsed.data) == (
        "ladder",
        "date.reached",
        {"on": "date:customer.birthday", "date": "2027-02-28"},
    )
    assert parsed.customer.email == "today@example.com"


def test_a_second_sweep_of_the_same_day_adds_nothing(db: Session) -> None:
    add(db, "today@example.com", birthday=date(1990, 2, 28))
    db.commit()
    dates.sweep(db, [BIRTHDAY], day=date(2027, 2, 28), now=NOW)
    assert dates.sweep(db, [BIRTHDAY], day=date(2027, 2, 28), now=NOW) == {
        "date:customer.birthday": 0
    }


def test_a_transactional_date_trigger_reaches_customers_without_consent(db: Session) -> None:
    add(db, "no-consent@example.com", birthday=date(1990, 2, 28), consent=False)
    db.commit()
    notice = Trigger.model_validate(
        {"name": "notice", "message": "n", "on": "date:customer.birthday", "class": "transactional"}
    )
    dates.sweep(db, [notice], day=date(2027, 2, 28), now=NOW)
    assert set(events_of(db, "date:customer.birthday")) == {"no-consent@example.com"}
