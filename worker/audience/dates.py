"""The daily date sweep: birthday, first-order anniversary and calendar-date events, set-based.

The clock runs it for tomorrow (UTC), a day ahead, so that customers far east of UTC, whose
day starts first, get their event before it is time to send. The trigger's timing then puts
the email on that local date (`data.date`) at its `at`, in the customer's zone.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import ColumnElement, extract, true
from sqlmodel import Session

from models.tables import CUSTOMERS
from triggers import Trigger
from worker.audience import own_events

PAYLOAD_TYPE = "date.reached"


def _month_days(day: date) -> list[str]:
    """The 'MM-DD's celebrated on `day`: 29 February falls on the 28th in other years."""
    found = [f"{day:%m-%d}"]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        found.append("02-29")
    return found


def who_on(entry: str, day: date, dialect: str) -> ColumnElement[bool] | None:
    """Which customers `entry` reaches on `day`; None when it reaches nobody that day."""
    c = CUSTOMERS.c
    if entry == "date:customer.birthday":
        return own_events.month_day(dialect, c.birthday).in_(_month_days(day))
    if entry == "date:customer.first_order_at":
        on_the_day = own_events.month_day(dialect, c.first_order_at).in_(_month_days(day))
        return on_the_day & (extract("year", c.first_order_at) < day.year)
    return true() if entry == f"date:{day:%m-%d}" else None


def sweep(db: Session, triggers: Iterable[Trigger], *, day: date, now: datetime) -> dict[str, int]:
    """Inserts one event per customer and date entry that falls on `day`; commits.

    Only customers who accept marketing, unless a transactional trigger uses the entry.
    Idempotent per year: running it again for the same day adds nothing. Returns how many
    events each entry added.
    """
    dialect = db.get_bind().dialect.name
    entries: dict[str, bool] = {}  # entry → any transactional trigger uses it
    for trigger in triggers:
        if trigger.is_dated and trigger.enabled:
            entries[trigger.on] = entries.get(trigger.on, False) or not trigger.is_marketing
    added = {}
    for entry, transactional in sorted(entries.items()):
        who = who_on(entry, day, dialect)
        if who is None:
            continue
        if not transactional:
            who = who & CUSTOMERS.c.accepts_marketing.is_(True)
        added[entry] = own_events.insert_customer_events(
            db,
            event_type=entry,
            payload_type=PAYLOAD_TYPE,
            key_prefix=f"{entry}:{day.year}:",
            where=who,
            data={
                "on": own_events.text_value(entry),
                "date": own_events.text_value(day.isoformat()),
            },
            now=now,
        )
    db.commit()
    return added
