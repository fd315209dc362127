"""Time travel for tests: script events on a simulated clock through the real pipeline.

For this project's tests and for shops testing their own triggers. The database, the actors,
the broker (in-process) and the clock are the real ones; only time is simulated::

    with time_machine(datetime(2026, 5, 1, 10, tzinfo=UTC)) as machine:
        machine.happen(machine.order_placed("ana@example.com", total="45.90"))
        machine.advance(timedelta(days=3))
        assert machine.emails("ana@example.com") == [("thank-you", ...)]

The database is the one `DATABASE_URL` names (migrated by the caller); `settings` overrides
the environment for the block (e.g. `{"SEND_WINDOW": "09:00-20:00"}`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select
from sqlmodel import Session, col

from models import Customer, Delivery, DeliveryStatus
from models.db import session
from worker import current_time
from worker.canonical import CanonicalEvent
from worker.demo.replay import drain, private_broker
from worker.queue import clock, dispatch
from worker.runtime import Runtime, in_process


@dataclass(frozen=True)
class Sent:
    trigger: str
    sent_at: datetime


class TimeMachine:
    """One simulated clock over the real pipeline. Each move of time ticks the clock at every
    moment something is due, and at each midnight (UTC) for the daily jobs."""

    def __init__(self, db: Session, runtime: Runtime, broker: StubBroker, start: datetime) -> None:
        self.db, self.runtime, self.broker = db, runtime, broker
        self.now = start
        self._ids = count(1)
        current_time.freeze(start)

    def happen(self, *events: CanonicalEvent) -> None:
        """Stores the events now, as the web would, and lets the worker process them."""
        dispatch.ingest(self.db, list(events), now=self.now)
        drain(self.broker)

    def order_placed(
        self,
        email: str,
        *,
        total: str | Decimal = "45.90",
        currency: str = "EUR",
        at: datetime | None = None,
        **customer: Any,
    ) -> CanonicalEvent:
        """An `order.placed` event now (or `at`: history, arriving now), one line, for `email`
        (customer fields as keywords)."""
        number = next(self._ids)
        return CanonicalEvent.model_validate(
            {
                "source": "api",
                "id": f"time-machine-{number}",
                "type": "order.placed",
                "occurred_at": (at or self.now).isoformat(),
                "customer": {"email": email, "accepts_marketing": True, **customer},
                "order": {
                    "id": f"tm-{number}",
                    "total": str(total),
                    "currency": currency,
                    "lines": [{"title": "Green tea", "price": str(total), "category": "tea"}],
                },
            }
        )

    def event(
        self, type: str, email: str, *, data: Mapping[str, Any] | None = None, **customer: Any
    ) -> CanonicalEvent:
        """Any canonical event without an order, now, for `email` (`checkout.started`, …)."""
        return CanonicalEvent.model_validate(
            {
                "source": "api",
                "id": f"time-machine-{next(self._ids)}",
                "type": type,
                "occurred_at": self.now.isoformat(),
                "customer": {"email": email, **customer},
                "data": dict(data or {}),
            }
        )

    def advance(self, by: timedelta) -> None:
        self.travel_to(self.now + by)

    def travel_to(self, moment: datetime) -> None:
        """Moves time forward to `moment`, stopping wherever a delivery is due or a day starts."""
        while True:
            midnight = (self.now + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            midnight = midnight.replace(microsecond=0)
            stop = min(moment, midnight, self._next_due() or moment)
            self._tick(stop)
            if stop >= moment:
                return

    def refresh_segments(self) -> None:
        """The daily segment refresh, now, and the ladder's (their moves are processed)."""
        clock.refresh_segments(self.db, now=self.now, runtime=self.runtime)
        self._tick(self.now)

    def _next_due(self) -> datetime | None:
        due = select(func.min(col(Delivery.send_at))).where(
            col(Delivery.status) == DeliveryStatus.SCHEDULED, col(Delivery.send_at) > self.now
        )
        first: datetime | None = self.db.execute(due).scalar_one()
        self.db.commit()
        return first

    def _tick(self, at: datetime) -> None:
        self.now = max(self.now, at)
        current_time.freeze(self.now)
        for _ in range(2):  # the second tick sends what the first one's events made due
            clock.tick(self.db, now=self.now, runtime=self.runtime)
            drain(self.broker)

    def deliveries(self, email: str | None = None) -> list[Delivery]:
        """Every delivery row (of `email` only, if given), oldest first."""
        # Fresh from the database, without expiring rows handed out before.
        query = (
            select(Delivery).order_by(col(Delivery.id)).execution_options(populate_existing=True)
        )
        if email is not None:
            query = query.join(Customer, col(Customer.id) == col(Delivery.customer_id)).where(
                col(Customer.email) == email
            )
        rows = list(self.db.execute(query).scalars())
        self.db.commit()
        return rows

    def emails(self, email: str | None = None) -> list[Sent]:
        """What went out (to `email` only, if given): trigger and when, oldest first."""
        sent = [d for d in self.deliveries(email) if d.sent_at is not None]
        return sorted((Sent(d.trigger, d.sent_at) for d in sent), key=lambda s: s.sent_at)  # type: ignore[arg-type]


@contextmanager
def time_machine(
    start: datetime, *, settings: Mapping[str, str] | None = None, threads: int = 2
) -> Iterator[TimeMachine]:
    """A TimeMachine at `start`, with a private in-process broker and worker for the block."""
    with (
        in_process(dict(settings or {})) as runtime,
        private_broker(threads) as broker,
        session(runtime.settings.database_url) as db,
    ):
        yield TimeMachine(db, runtime, broker, start)
