"""`ladder broadcast plan NAME`: who a broadcast would reach on its next date, per segment and
language, and how many consent or the frequency budget would hold back; before anything is
scheduled or sent, counted by the database in one GROUP BY over the audience.

The budget is estimated as `delivery.eligibility` applies it at each customer's send time:
marketing sent within a rule's window before it, and marketing scheduled within it that goes
first (a higher priority, or the same: those rows are older). What is scheduled after this
plan is not foreseen; a lower-priority delivery due then yields to the broadcast.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import CUSTOMERS, DELIVERIES
from triggers.broadcast import Broadcast, WinnerTest
from worker.scheduling import broadcast_times
from worker.scheduling.broadcasts import audience_of, held_back, next_scheduled, send_at_sql
from worker.scheduling.budget import MARKETING
from worker.scheduling.winner import in_test
from worker.settings import Settings

C = CUSTOMERS.c
# What a test-then-winner's metric counts, as a plan says it: "the most clicks per email".
SCORED = {"opened": "opens", "clicked": "clicks", "bought": "orders", "revenue": "revenue"}


@dataclass
class BroadcastPlan:
    broadcast: str
    day: date | None  # None: no date left (a one-off already past)
    first_send: datetime | None = None
    last_send: datetime | None = None
    # (segment, language) → count
    reached: Counter[tuple[str, str]] = field(default_factory=Counter)
    no_consent: Counter[tuple[str, str]] = field(default_factory=Counter)
    budget: Counter[tuple[str, str]] = field(default_factory=Counter)
    # A test-then-winner: the test and how many of those consent lets through are in it.
    test: WinnerTest | None = None
    in_test: int = 0

    @property
    def audience(self) -> int:
        return sum((self.reached + self.no_consent + self.budget).values())


def plan_broadcast(
    db: Session,
    broadcast: Broadcast,
    *,
    env: SandboxedEnvironment,
    settings: Settings,
    now: datetime,
    day: date | None = None,
) -> BroadcastPlan:
    """Counts what the run of `day` would do, were it resolved now; without `day`, the run
    scheduled soonest, else the file's next date."""
    day = day or next_scheduled(db, broadcast.name) or broadcast.occurrence(now.date())
    found = BroadcastPlan(broadcast.name, day)
    if day is None:
        return found
    audience = audience_of(env, broadcast, now=now, settings=settings)
    zones = db.execute(select(C.timezone).where(audience).distinct()).scalars().all()
    times = broadcast_times.send_times(broadcast, day, zones, settings)
    moments = [time.send_at for time in times.values()]
    found.first_send, found.last_send = min(moments, default=None), max(moments, default=None)
    held = held_back(broadcast)[0]
    full = _budget_full(broadcast, times, settings) if broadcast.is_marketing else None
    outcome = case(
        (held, "consent"), *([(full, "budget")] if full is not None else []), else_="reached"
    )
    rows = db.execute(
        select(C.segment, C.locale, outcome.label("outcome"), func.count())
        .where(audience)
        .group_by(C.segment, C.locale, outcome)
    )
    counters = {"reached": found.reached, "consent": found.no_consent, "budget": found.budget}
    for segment, locale, kind, count in rows:
        language = (locale or settings.default_locale).split("_")[0].split("-")[0].lower()
        counters[kind][(segment or "-", language)] += int(count)
    if broadcast.test is not None:
        found.test = broadcast.test
        found.in_test = int(
            db.execute(select(func.count()).where(audience, in_test(broadcast), ~held)).scalar_one()
        )
    db.rollback()  # a read: end its transaction
    return found


def _budget_full(
    broadcast: Broadcast, times: dict[str | None, broadcast_times.SendTime], settings: Settings
) -> Any:
    """True where a budget rule would have no room for the broadcast at the customer's time."""
    d = DELIVERIES.c
    waiting = (DeliveryStatus.SCHEDULED.value, DeliveryStatus.SENDING.value)
    send_at = send_at_sql(times, "send_at")
    checks = []
    for rule in settings.budget.rules:
        # The window's start in each zone, computed here: SQLite has no interval arithmetic.
        shifted = {
            zone: replace(time, send_at=time.send_at - rule.window) for zone, time in times.items()
        }
        since = send_at_sql(shifted, "send_at")
        taken = (
            select(func.count())
            .where(
                d.customer_id == C.id,
                d.message_class == MARKETING,
                or_(
                    and_(d.sent_at > since, d.sent_at <= send_at),
                    and_(
                        d.status.in_(waiting),
                        d.send_at > since,
                        d.send_at <= send_at,
                        d.priority >= broadcast.priority,
                    ),
                ),
            )
            .scalar_subquery()
        )
        checks.append(taken >= rule.limit)
    return or_(*checks) if checks else None
