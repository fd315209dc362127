"""Gauges read from the database when Prometheus scrapes, never on the hot path: rows by state,
the oldest due delivery, the queue's lag, whether a clock leads, the sending pause.

Each query reads an index (`ix_events_status_enqueued`, `ix_deliveries_status_send_at`: the
counts by state scan it, the ages read one entry) or a few rows (leases, pauses), and on
PostgreSQL stops at a statement timeout, so a scrape of a large shop costs index scans once per
scrape interval, not table scans; a database that does not answer gives
`ladder_metrics_database_up 0` and the rest left out, never a failed scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from models import DeliveryStatus, EventStatus
from models.db import session
from models.tables import DELIVERIES, EVENTS, LEASES, SENDING_PAUSES
from worker import current_time

logger = logging.getLogger(__name__)

# Per statement, on PostgreSQL: Prometheus gives a scrape 10 s by default.
STATEMENT_TIMEOUT_MS = 2_000
# The states counted per message; past this many (message, status) pairs the rest are left out.
BY_MESSAGE_STATES = (DeliveryStatus.SCHEDULED, DeliveryStatus.SENT, DeliveryStatus.FAILED)
MAX_MESSAGE_SERIES = 300


class DatabaseGauges(Collector):
    """A collector over the database at `database_url`; `backend` is the provider whose pause
    is always reported (0 when sending runs), `leader_lease` the clock's lease row."""

    def __init__(self, database_url: str, *, backend: str, leader_lease: str) -> None:
        self.database_url = database_url
        self.backend = backend
        self.leader_lease = leader_lease

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # no describe at registration: that would query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("ladder_metrics_database_up", "1 when the gauges could be read.")
        try:
            with session(self.database_url) as db:
                families = list(self._read(db, now=current_time.now()))
                db.rollback()  # read only; on SQLite the transaction holds the write lock
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("metrics: the database did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, db: Session, *, now: datetime) -> Iterator[GaugeMetricFamily]:
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        yield _by_status(
            db, EVENTS, "ladder_events", "Events by status.", [s.value for s in EventStatus]
        )
        yield _by_status(
            db,
            DELIVERIES,
            "ladder_deliveries",
            "Deliveries by status.",
            [s.value for s in DeliveryStatus],
        )
        yield _by_message(db)
        yield _age(
            "ladder_oldest_due_delivery_age_seconds",
            "How long the oldest scheduled delivery has been due (0: none is).",
            db.scalar(
                select(func.min(DELIVERIES.c.send_at)).where(
                    DELIVERIES.c.status == DeliveryStatus.SCHEDULED,
                    DELIVERIES.c.send_at <= now,
                )
            ),
            now,
        )
        yield _age(
            "ladder_queue_lag_seconds",
            "How long the oldest pending event has waited to be processed (0: none waits).",
            db.scalar(
                select(func.min(EVENTS.c.received_at)).where(EVENTS.c.status == EventStatus.PENDING)
            ),
            now,
        )
        yield self._leader(db, now)
        yield self._pauses(db)

    def _leader(self, db: Session, now: datetime) -> GaugeMetricFamily:
        expires = db.scalar(
            select(LEASES.c.expires_at).where(
                LEASES.c.name == self.leader_lease, LEASES.c.holder.is_not(None)
            )
        )
        family = GaugeMetricFamily(
            "ladder_clock_leader", "1 while some clock holds an unexpired leader lease."
        )
        family.add_metric([], 1 if expires is not None and expires > now else 0)
        return family

    def _pauses(self, db: Session) -> GaugeMetricFamily:
        paused = set(db.scalars(select(SENDING_PAUSES.c.provider)))
        family = GaugeMetricFamily(
            "ladder_sending_paused",
            "1 while sending through the provider is paused (it refused our credentials).",
            labels=["provider"],
        )
        for provider in sorted(paused | {self.backend}):
            family.add_metric([provider], 1 if provider in paused else 0)
        return family


def _by_status(
    db: Session, table: Table, name: str, documentation: str, states: list[str]
) -> GaugeMetricFamily:
    """Every known state, 0 when no row has it, so a panel's line drops to 0 instead of gone."""
    counts = dict.fromkeys(states, 0)
    status = table.c.status
    for state, count in db.execute(select(status, func.count()).group_by(status)):
        counts[str(state)] = int(count)
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for state, count in counts.items():
        family.add_metric([state], count)
    return family


def _by_message(db: Session) -> GaugeMetricFamily:
    c = DELIVERIES.c
    rows = db.execute(
        select(c.message, c.status, func.count())
        .where(c.status.in_(BY_MESSAGE_STATES))
        .group_by(c.message, c.status)
        .order_by(c.message, c.status)
        .limit(MAX_MESSAGE_SERIES)
    )
    family = GaugeMetricFamily(
        "ladder_deliveries_by_message",
        "Scheduled, sent and failed deliveries by message.",
        labels=["message", "status"],
    )
    for message, status, count in rows:
        family.add_metric([str(message), str(status)], int(count))
    return family


def _age(name: str, documentation: str, since: datetime | None, now: datetime) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], 0.0 if since is None else max(0.0, (now - since).total_seconds()))
    return family
