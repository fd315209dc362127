"""Broadcast runs → delivery rows: scheduled by the CLI, resolved by the clock when due, each
in one transaction of a few set-based statements (INSERT … SELECT over the customers), never a
loop per customer.

Exactly once: a run is taken by a compare-and-set (`scheduled → resolved`) in the same
transaction that inserts its rows, and every row is unique (the run's event on its source id,
each delivery on (run, customer) and its dedupe key), so a clock killed mid-way leaves nothing, and
a second clock or a re-run inserts nothing. The delivery pipeline sends the rows as it sends
a trigger's, re-checking consent, suppression, quiet hours and the budget at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlmodel import Session

from models import DeliveryStatus, EventStatus, RunStatus
from models.db import dialect_insert, insert_ignoring_duplicates
from models.states import BROADCAST_RUN, DELIVERY
from models.tables import (
    BROADCAST_RUNS,
    CUSTOMERS,
    DELIVERIES,
    EVENTS,
    PREFERENCES,
    SUPPRESSIONS,
)
from models.types import UTCDateTime
from triggers import format_duration
from triggers.broadcast import Broadcast
from triggers.schema import Variant
from triggers.series import Series
from worker.event_types import BROADCAST
from worker.measurement.variants import results_of
from worker.scheduling import ab_split, broadcast_times
from worker.scheduling.audience_sql import compile_audience
from worker.scheduling.winner import in_test, pick_winner, winner_time
from worker.settings import Settings

C = CUSTOMERS.c
R = BROADCAST_RUNS.c
SOURCE = "ladder"
# Why a customer of the audience is not sent a broadcast, checked in this order (again at
# send time, by `delivery.eligibility`, for what changes in between).
SUPPRESSED = "address is on the suppression list"
NO_CONSENT = "no marketing consent"


class ScheduleError(ValueError):
    """A run that cannot be scheduled (past, already scheduled); the message says why."""


def audience_of(
    env: SandboxedEnvironment, broadcast: Broadcast, *, now: datetime, settings: Settings
) -> ColumnElement[bool]:
    """The broadcast's audience as a condition on CUSTOMERS. Raises AudienceError."""
    return compile_audience(env, broadcast.audience, now=now, currency=settings.default_currency)


def schedule(
    db: Session, broadcast: Broadcast, *, now: datetime, settings: Settings, day: date | None = None
) -> int:
    """Schedules the run of `day` (else the next date of the file on or after today), commits,
    and returns its id. Raises ScheduleError for a date past or a run that exists."""
    day = day or broadcast.occurrence(now.date())
    if day is None:
        raise ScheduleError(
            f"{broadcast.name} went out on {broadcast.send_on}: set a later `date` in its file"
        )
    if broadcast_times.last_due(broadcast, day, settings) + broadcast.max_lateness < now:
        raise ScheduleError(
            f"{broadcast.name} on {day} at {broadcast.at:%H:%M} is past everywhere (and its"
            f" max_lateness {format_duration(broadcast.max_lateness)}): schedule a later date"
        )
    resolve_at = broadcast_times.resolve_at(broadcast, day, settings)
    ids = _insert_run(db, broadcast.name, day, resolve_at=resolve_at, now=now)
    if not ids:
        ids = _schedule_again(db, broadcast.name, day, resolve_at=resolve_at)
    if not ids:
        status = db.execute(
            select(R.status).where(R.broadcast == broadcast.name, R.occurs_on == day)
        ).scalar_one()
        db.rollback()
        raise ScheduleError(f"{broadcast.name} is already {status} for {day}")
    db.commit()
    return int(ids[0])


def _schedule_again(db: Session, name: str, day: date, *, resolve_at: datetime) -> list[int]:
    """The run of `day` back to scheduled, if it was cancelled (only a run not yet resolved
    is: a resolved one stays resolved, its deliveries cancelled)."""
    which = and_(R.broadcast == name, R.occurs_on == day, R.resolved_at.is_(None))
    statement = BROADCAST_RUN.update(
        RunStatus.CANCELLED, RunStatus.SCHEDULED, which, resolve_at=resolve_at, cancelled_at=None
    ).returning(R.id)
    return list(db.execute(statement).scalars())


def _insert_run(
    db: Session, name: str, day: date, *, resolve_at: datetime, now: datetime
) -> list[int]:
    statement = (
        dialect_insert(db.get_bind().dialect.name)(BROADCAST_RUNS)
        .values(
            broadcast=name,
            occurs_on=day,
            status=RunStatus.SCHEDULED.value,
            resolve_at=resolve_at,
            created_at=now,
            reached=0,
        )
        .on_conflict_do_nothing()
        .returning(R.id)
    )
    return list(db.execute(statement).scalars())


def cancel(db: Session, name: str, *, now: datetime) -> tuple[int, int]:
    """Cancels the broadcast's runs not yet over: those waiting to be resolved, and the
    deliveries still scheduled of those resolved (one already claimed goes out). Commits;
    returns (runs cancelled, deliveries cancelled)."""
    found = cancel_waiting(db, name, now=now)
    db.commit()
    return found


def cancel_waiting(db: Session, name: str, *, now: datetime) -> tuple[int, int]:
    """`cancel` without the commit: the studio commits its audit line with it."""
    runs = sum(
        BROADCAST_RUN.move(db, status, RunStatus.CANCELLED, R.broadcast == name, cancelled_at=now)
        for status in (RunStatus.SCHEDULED, RunStatus.TESTING)  # a test's rest never goes
    )
    deliveries = DELIVERY.move(
        db,
        DeliveryStatus.SCHEDULED,
        DeliveryStatus.CANCELLED,
        DELIVERIES.c.broadcast_run_id.in_(select(R.id).where(R.broadcast == name)),
        reason=f"broadcast cancelled at {now:%Y-%m-%d %H:%M} UTC",
    )
    return runs, deliveries


def next_scheduled(db: Session, name: str) -> date | None:
    """The date of the broadcast's earliest run waiting to be resolved; None without one."""
    found = db.execute(
        select(func.min(R.occurs_on)).where(
            R.broadcast == name, R.status == RunStatus.SCHEDULED.value
        )
    ).scalar_one()
    db.commit()
    return found  # type: ignore[no-any-return]


def due_runs(db: Session, *, now: datetime) -> list[tuple[int, str, date]]:
    """(id, broadcast, date) of the runs waiting to be resolved whose time has come."""
    return _due(db, RunStatus.SCHEDULED, R.resolve_at, now)


def _due(db: Session, status: RunStatus, moment: Any, now: datetime) -> list[tuple[int, str, date]]:
    rows = db.execute(
        select(R.id, R.broadcast, R.occurs_on)
        .where(R.status == status.value, moment <= now)
        .order_by(moment, R.id)
    ).all()
    db.commit()
    return [(row.id, row.broadcast, row.occurs_on) for row in rows]


@dataclass(frozen=True)
class Resolved:
    run_id: int
    scheduled: int  # deliveries that will go out
    skipped: int  # customers of the audience held back by consent or suppression


def resolve(
    db: Session,
    run_id: int,
    broadcast: Broadcast,
    *,
    day: date,
    env: SandboxedEnvironment,
    settings: Settings,
    now: datetime,
) -> Resolved | None:
    """Resolves one run into its deliveries, in one transaction, and commits. None if the run
    was no longer waiting: another clock (or this one, before a crash it did not survive)
    resolved or cancelled it first. A monthly broadcast's next run is scheduled with it.

    With a [test], only the test share's deliveries are made (each its variant) and the run is
    `testing` until `winner_at`, when `resolve_winner` sends the rest the winner."""
    test = broadcast.test
    moved = (
        BROADCAST_RUN.move_one(db, run_id, RunStatus.SCHEDULED, RunStatus.TESTING,
                               resolved_at=now, winner_at=winner_time(broadcast, day, settings))
        if test is not None
        else BROADCAST_RUN.move_one(db, run_id, RunStatus.SCHEDULED, RunStatus.RESOLVED,
                                    resolved_at=now)
    )  # fmt: skip
    if not moved:
        db.rollback()
        return None  # another clock got there first, or it was cancelled
    audience = audience_of(env, broadcast, now=now, settings=settings)
    zones = db.execute(select(C.timezone).where(audience).distinct()).scalars().all()
    times = broadcast_times.send_times(broadcast, day, zones, settings)
    if test is not None:
        audience = and_(audience, in_test(broadcast))
    cause = _insert_cause(db, run_id, broadcast, now)
    db.execute(_insert_deliveries(db, audience, run_id, cause, broadcast, times, now))
    counts = _counts(db, run_id)
    db.execute(
        update(BROADCAST_RUNS).where(R.id == run_id).values(reached=counts.get("scheduled", 0))
    )
    following = broadcast.next_after(day)
    if following is not None:
        again = broadcast_times.resolve_at(broadcast, following, settings)
        _insert_run(db, broadcast.name, following, resolve_at=again, now=now)
    db.commit()
    return Resolved(run_id, counts.get("scheduled", 0), counts.get("skipped", 0))


def due_winners(db: Session, *, now: datetime) -> list[tuple[int, str, date]]:
    """(id, broadcast, date) of the runs in test whose winner is due."""
    return _due(db, RunStatus.TESTING, R.winner_at, now)


def resolve_winner(
    db: Session,
    run_id: int,
    broadcast: Broadcast,
    *,
    day: date,
    env: SandboxedEnvironment,
    settings: Settings,
    now: datetime,
) -> Resolved | None:
    """Picks the winner of a run in test and resolves the rest of its audience (who has no
    row of the run yet) into deliveries of the winner, `wait` after the test; in one
    transaction, and commits. None if the run was no longer in test (another clock, a
    cancel)."""
    if not BROADCAST_RUN.move_one(db, run_id, RunStatus.TESTING, RunStatus.RESOLVED):
        db.rollback()
        return None
    metric = broadcast.test.metric if broadcast.test is not None else "clicked"
    results = results_of(db, broadcast.trigger_name, run_id=run_id)
    winner, note = pick_winner(broadcast.variants, results, metric, settings.default_currency)
    audience = audience_of(env, broadcast, now=now, settings=settings)
    zones = db.execute(select(C.timezone).where(audience).distinct()).scalars().all()
    wait = broadcast.test.wait if broadcast.test is not None else timedelta(days=1)
    if broadcast.in_customer_zone:
        times = broadcast_times.send_times(
            broadcast, day + timedelta(days=max(wait.days, 1)), zones, settings
        )
    else:
        times = {
            zone: broadcast_times.SendTime(t.due_at + wait, t.send_at + wait)
            for zone, t in broadcast_times.send_times(broadcast, day, zones, settings).items()
        }
    cause = _insert_cause(db, run_id, broadcast, now)
    db.execute(_insert_deliveries(db, audience, run_id, cause, broadcast, times, now,
                                  winner=winner))  # fmt: skip
    counts = _counts(db, run_id)
    db.execute(
        update(BROADCAST_RUNS)
        .where(R.id == run_id)
        .values(reached=counts.get("scheduled", 0), winner=winner.name, winner_note=note[:500])
    )
    db.commit()
    rest = counts.get("scheduled", 0)
    return Resolved(run_id, rest, counts.get("skipped", 0))


def _counts(db: Session, run_id: int) -> dict[str, int]:
    """The run's deliveries by status."""
    d = DELIVERIES.c
    rows = db.execute(
        select(d.status, func.count()).where(d.broadcast_run_id == run_id).group_by(d.status)
    )
    return {str(status): int(count) for status, count in rows}


def _insert_cause(db: Session, run_id: int, broadcast: Broadcast, now: datetime) -> int:
    """The run's `broadcast.scheduled` event, processed: the cause its deliveries name (one for
    them all; it names the broadcast and run, no customer), shown by `explain`."""
    row = {
        "source": SOURCE,
        "source_event_id": f"broadcast:{run_id}",
        "type": BROADCAST,
        "occurred_at": now,
        "received_at": now,
        "payload": {"data": {"broadcast": broadcast.name, "run": run_id}},
        "status": EventStatus.PROCESSED.value,
        "attempts": 0,
    }
    insert_ignoring_duplicates(db, EVENTS, [row], EVENTS.c.id)
    found = db.execute(
        select(EVENTS.c.id).where(
            EVENTS.c.source == SOURCE, EVENTS.c.source_event_id == row["source_event_id"]
        )
    ).scalar_one()
    return int(found)


def _insert_deliveries(
    db: Session,
    audience: ColumnElement[bool],
    run_id: int,
    cause: int,
    broadcast: Broadcast,
    times: dict[str | None, broadcast_times.SendTime],
    now: datetime,
    *,
    winner: Variant | None = None,
) -> Any:
    """One delivery per customer of the audience without one of the run yet: `scheduled` at
    their send time, or `skipped` with the reason when consent or the suppression list holds
    them back now. Each gets their A/B variant; given a test's `winner`, everyone gets it."""
    key = literal(f"broadcast:{run_id}:") + cast(C.id, String)
    held = held_back(broadcast)
    missed = _missed(times, broadcast, now)
    if missed is not None:  # first: a customer it is too late for is not sent it, whoever
        held = (or_(missed[0], held[0]), [missed, *held[1]])
    status = case(
        (held[0], literal(DeliveryStatus.SKIPPED.value)),
        else_=literal(DeliveryStatus.SCHEDULED.value),
    )
    reason = case(*((when, literal(why)) for when, why in held[1]), else_=literal(None, String))
    variant = None
    message: Any = literal(broadcast.message)
    if winner is not None:
        message = literal(winner.message or broadcast.message)
    elif broadcast.variants:
        shares = [(v.name, v.share) for v in broadcast.variants]
        variant = ab_split.variant_sql(broadcast.trigger_name, shares, C.id)
        messages = {v.name: v.message or broadcast.message for v in broadcast.variants}
        message = case(messages, value=variant, else_=literal(broadcast.message))
    rows = (
        select(
            key,
            literal(broadcast.trigger_name),
            message,
            C.id,
            literal(cause),
            status,
            send_at_sql(times, "send_at"),
            send_at_sql(times, "due_at"),
            literal(broadcast.message_class),
            literal(broadcast.priority),
            literal(now, UTCDateTime()),
            reason,
            literal(0),
            literal(0),
            literal(run_id),
            variant if variant is not None else literal(None, String),
        )
        .select_from(CUSTOMERS)
        .where(audience)
    )
    columns = [
        "dedupe_key",
        "trigger",
        "message",
        "customer_id",
        "cause_event_id",
        "status",
        "send_at",
        "due_at",
        "message_class",
        "priority",
        "created_at",
        "reason",
        "attempts",
        "failures",
        "broadcast_run_id",
        "ab_variant",
    ]
    dialect = db.get_bind().dialect.name
    return dialect_insert(dialect)(DELIVERIES).from_select(columns, rows).on_conflict_do_nothing()


def _missed(
    times: dict[str | None, broadcast_times.SendTime], broadcast: Broadcast, now: datetime
) -> tuple[Any, str] | None:
    """(who it is too late for, why): the customers of the zones whose time, and the
    broadcast's max lateness, passed before the run was resolved (a clock that was down); None
    when it is in time everywhere."""
    late = [zone for zone, time in times.items() if time.due_at + broadcast.max_lateness < now]
    if not late:
        return None
    named = [zone for zone in late if zone is not None]
    conditions = [C.timezone.in_(named)] if named else []
    if None in late:
        conditions.append(C.timezone.is_(None))
    lateness = format_duration(broadcast.max_lateness)
    return or_(*conditions), f"missed: its time passed more than {lateness} before it was resolved"


def held_back(broadcast: Broadcast | Series) -> tuple[Any, list[tuple[Any, str]]]:
    """(any of them, [(condition, reason)…]): who consent or suppression hold back now."""
    suppressed = exists().where(SUPPRESSIONS.c.email == C.email)
    p = PREFERENCES.c
    opted_out = exists().where(
        p.customer_id == C.id,
        p.message_class == broadcast.message_class,
        p.opted_out.is_(true()),
    )
    reasons: list[tuple[Any, str]] = [(suppressed, SUPPRESSED)]
    if broadcast.is_marketing:
        reasons.append((not_(C.accepts_marketing.is_(true())), NO_CONSENT))
    reasons.append((opted_out, f"opted out of {broadcast.message_class} mail"))
    return or_(*(when for when, _ in reasons)), reasons


def send_at_sql(times: dict[str | None, broadcast_times.SendTime], field: str) -> Any:
    """The customer's time as a CASE over their zone column: one branch per zone present."""
    moments = {zone: getattr(time, field) for zone, time in times.items()}
    if not moments:
        return literal(None, UTCDateTime())
    default = moments.get(None, next(iter(moments.values())))
    named = [
        (C.timezone == zone, literal(at, UTCDateTime())) for zone, at in moments.items() if zone
    ]
    if not named:
        return literal(default, UTCDateTime())
    return case(*named, else_=literal(default, UTCDateTime()))
