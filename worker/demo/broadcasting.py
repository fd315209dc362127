"""The demo's broadcasts: the shipped monthly ones scheduled for the last months it replays,
and what they and the content series did, for the summary."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from rich.table import Table
from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import BROADCAST_RUNS, DELIVERIES
from triggers.broadcast import months_later
from triggers.series import PREFIX as SERIES_PREFIX
from worker.runtime import Runtime
from worker.scheduling import broadcasts

MONTHS = 3  # a monthly broadcast's runs in the demo: its last three months
R, D = BROADCAST_RUNS.c, DELIVERIES.c


def schedule_broadcasts(db: Session, runtime: Runtime, *, now: datetime, end: datetime) -> int:
    """Schedules each monthly broadcast so that its last MONTHS runs fall before `end`'s day
    (on the 7th, a letter of the 5th went out on the 5th of this month and the two before);
    every run the clock resolves schedules the next one, so the replay sends one a month.
    Returns how many were scheduled."""
    scheduled = 0
    for broadcast in runtime.broadcasts.values():
        if broadcast.repeat != "monthly":
            continue
        day = first_of_last_runs(broadcast.send_on, end.date())
        broadcasts.schedule(db, broadcast, now=now, settings=runtime.settings, day=day)
        scheduled += 1
    return scheduled


def first_of_last_runs(send_on: date, end: date) -> date:
    """The day of the first of a monthly broadcast's last MONTHS runs before `end`."""
    months = (end.year - send_on.year) * 12 + end.month - send_on.month
    if months_later(send_on, months) >= end:  # this month's: still due
        months -= 1
    return months_later(send_on, months - (MONTHS - 1))


def broadcasts_table(db: Session) -> Table:
    """Each run: its date, what became of its deliveries, and the sent per A/B variant."""
    by_status: dict[int, Counter[str]] = {}
    for run_id, status, count in db.execute(
        select(D.broadcast_run_id, D.status, func.count())
        .where(D.broadcast_run_id.is_not(None))
        .group_by(D.broadcast_run_id, D.status)
    ):
        by_status.setdefault(run_id, Counter())[str(status)] = int(count)
    variants: dict[int, Counter[str]] = {}
    for run_id, variant, count in db.execute(
        select(D.broadcast_run_id, D.ab_variant, func.count())
        .where(D.broadcast_run_id.is_not(None), D.sent_at.is_not(None))
        .group_by(D.broadcast_run_id, D.ab_variant)
    ):
        variants.setdefault(run_id, Counter())[str(variant or "-")] = int(count)
    table = Table(
        title="Broadcasts (a delivery row per customer of the audience)", title_justify="left"
    )
    for column in ("broadcast", "date", "run", "reached", "sent", "not sent", "sent by variant"):
        table.add_column(column, justify="right" if column in ("reached", "sent") else "left")
    for row in db.execute(select(R.id, R.broadcast, R.occurs_on, R.status).order_by(R.occurs_on)):
        counts = by_status.get(row.id, Counter())
        sent = counts.get("sent", 0) + counts.get("delivered", 0)
        others = ", ".join(
            f"{n} {s}" for s, n in sorted(counts.items()) if s not in ("sent", "delivered")
        )
        split = ", ".join(f"{v} {n}" for v, n in sorted(variants.get(row.id, Counter()).items()))
        table.add_row(
            row.broadcast,
            str(row.occurs_on),
            row.status,
            str(sum(counts.values())),
            str(sent),
            others or "-",
            split or "-",
        )
    return table


def series_table(db: Session) -> Table:
    """Each content series step: how many customers it was sent to, and what became of the rest."""
    rows = db.execute(
        select(D.trigger, D.message, D.status, func.count())
        .where(D.trigger.like(SERIES_PREFIX + "%"))
        .group_by(D.trigger, D.message, D.status)
        .order_by(D.trigger, D.message)
    ).all()
    found: dict[tuple[str, str], Counter[str]] = {}
    for trigger, message, status, count in rows:
        found.setdefault((trigger.removeprefix(SERIES_PREFIX), message), Counter())[status] = count
    table = Table(
        title="Content series (a delivery row per customer and step)", title_justify="left"
    )
    for column in ("series", "step", "sent", "not sent"):
        table.add_column(column, justify="right" if column == "sent" else "left")
    for (name, message), counts in found.items():
        sent = counts.get("sent", 0) + counts.get("delivered", 0)
        rest = sorted((s, n) for s, n in counts.items() if s not in ("sent", "delivered"))
        table.add_row(name, message, str(sent), ", ".join(f"{n} {s}" for s, n in rest) or "-")
    return table
