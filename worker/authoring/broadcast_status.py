"""`ladder broadcast status NAME`: its runs (with the winner of a test-then-winner), their
deliveries by state (the skipped by reason), and the result of its A/B test per variant
(`measurement.variants`); `ladder series status NAME`: a content series' steps, their
deliveries by state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import BROADCAST_RUNS, DELIVERIES
from triggers.broadcast import PREFIX
from worker.measurement.variants import Rate, VariantResult, results_of

__all__ = ["BroadcastStatus", "Rate", "Run", "VariantResult", "results_of", "series_steps",
           "status_of"]  # fmt: skip
R, D = BROADCAST_RUNS.c, DELIVERIES.c


@dataclass(frozen=True)
class Run:
    id: int
    day: date
    status: str
    resolve_at: datetime
    resolved_at: datetime | None
    reached: int
    deliveries: Counter[str]
    winner_at: datetime | None = None  # a test-then-winner's: when the rest get the winner
    winner: str | None = None
    winner_note: str | None = None
    skipped: Counter[str] = field(default_factory=Counter)  # held back, by reason


@dataclass
class BroadcastStatus:
    broadcast: str
    runs: list[Run] = field(default_factory=list)
    results: list[VariantResult] = field(default_factory=list)


def status_of(db: Session, name: str) -> BroadcastStatus:
    """Every run of the broadcast `name`, newest first, and its results over all runs."""
    found = BroadcastStatus(name)
    counts: dict[int, Counter[str]] = {}
    for run_id, status, count in db.execute(
        select(D.broadcast_run_id, D.status, func.count())
        .join(BROADCAST_RUNS, R.id == D.broadcast_run_id)
        .where(R.broadcast == name)
        .group_by(D.broadcast_run_id, D.status)
    ):
        counts.setdefault(run_id, Counter())[str(status)] = int(count)
    skipped: dict[int, Counter[str]] = {}
    for run_id, reason, count in db.execute(
        select(D.broadcast_run_id, D.reason, func.count())
        .join(BROADCAST_RUNS, R.id == D.broadcast_run_id)
        .where(R.broadcast == name, D.status == DeliveryStatus.SKIPPED.value)
        .group_by(D.broadcast_run_id, D.reason)
    ):
        skipped.setdefault(run_id, Counter())[str(reason or "-")] = int(count)
    for row in db.execute(
        select(*R).where(R.broadcast == name).order_by(R.occurs_on.desc(), R.id.desc())
    ):
        found.runs.append(
            Run(
                row.id,
                row.occurs_on,
                row.status,
                row.resolve_at,
                row.resolved_at,
                row.reached,
                counts.get(row.id, Counter()),
                row.winner_at,
                row.winner,
                row.winner_note,
                skipped.get(row.id, Counter()),
            )
        )
    found.results = results_of(db, PREFIX + name)
    db.rollback()  # a read: end its transaction
    return found


def series_steps(db: Session, trigger: str, steps: tuple[str, ...]) -> list[Counter[str]]:
    """For each step of the series whose deliveries carry `trigger`, its deliveries by state."""
    found = [Counter[str]() for _ in steps]
    for message, status, count in db.execute(
        select(D.message, D.status, func.count())
        .where(D.trigger == trigger)
        .group_by(D.message, D.status)
    ):
        if message in steps:
            found[steps.index(message)][str(status)] = int(count)
    db.rollback()  # a read: end its transaction
    return found
