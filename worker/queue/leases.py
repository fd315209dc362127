"""Leases: the clock's leader lease, and each periodic job's taker and last run, as rows that a
compare-and-set takes, so two clocks never lead or run a job at once, and a job is recorded
done only once its work has committed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlmodel import Session, col

from models import Lease
from models.db import insert_ignoring_duplicates
from models.tables import LEASES


def acquire(db: Session, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Takes or renews the lease `name`. False while another holder's lease is unexpired."""
    insert_ignoring_duplicates(db, LEASES, [{"name": name}], LEASES.c.name)
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == name,
            (col(Lease.holder) == holder)
            | col(Lease.holder).is_(None)
            | (col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def release(db: Session, name: str, holder: str) -> None:
    db.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(holder=None, expires_at=None)
    )
    db.commit()


# How long a periodic job, once taken, is its taker's alone. A taker that stops (killed,
# or the job raised) before `done` leaves the job undone: it is taken again once this has
# passed, the same day. Longer than any job takes on a large shop (the daily sweeps over a
# million customers take seconds, bench/README.md), so a slow job never runs twice at once,
# even when its clock's leader lease (30 s) runs out in the middle of it.
JOB_LEASE = timedelta(minutes=10)


def take_daily(db: Session, job: str, *, holder: str, now: datetime) -> bool:
    """True when `job` has not been done this UTC day and nobody else is doing it: it is then
    `holder`'s for JOB_LEASE. Call `done` once its work has committed."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return _take(db, job, holder=holder, now=now, done_since=midnight, inclusive=False)


def take_every(db: Session, job: str, *, holder: str, now: datetime, period: timedelta) -> bool:
    """As `take_daily`, for a job done at most once per `period`."""
    return _take(db, job, holder=holder, now=now, done_since=now - period, inclusive=True)


def request(db: Session, job: str, *, now: datetime) -> None:
    """Asks for a run of `job` ahead of its time (`take_requested`), at the latest `now`
    given: the run must see everything handed over before the last request."""
    insert_ignoring_duplicates(db, LEASES, [{"name": job}], LEASES.c.name)
    db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            col(Lease.requested_at).is_(None) | (col(Lease.requested_at) < now),
        )
        .values(requested_at=now)
    )
    db.commit()


def requested(db: Session, job: str) -> datetime | None:
    """When a run of `job` was last asked for and not yet started; None when none is."""
    found = db.execute(select(col(Lease.requested_at)).where(col(Lease.name) == job)).first()
    db.commit()
    return found[0] if found else None


def take_requested(db: Session, job: str, *, holder: str, now: datetime) -> bool:
    """As `take_daily`, for a run that was asked for (`request`), whenever it was last done."""
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            col(Lease.requested_at).is_not(None),
            col(Lease.holder).is_(None) | (col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + JOB_LEASE)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def done(
    db: Session, job: str, *, holder: str, now: datetime, answers: datetime | None = None
) -> None:
    """Records `job` done at `now` (when it started) and lets go of it; after its work
    committed, never before: a clock killed in between runs the job again (each job is
    idempotent), never skips it. `answers`: the request (`requested`) this run was taken for;
    a request made later is kept for the next run."""
    values: dict[str, object] = {"last_run_at": now, "holder": None, "expires_at": None}
    if answers is not None:
        requested_at = col(Lease.requested_at)
        values["requested_at"] = case((requested_at <= answers, None), else_=requested_at)
    db.execute(
        update(Lease).where(col(Lease.name) == job, col(Lease.holder) == holder).values(values)
    )
    db.commit()


def _take(
    db: Session, job: str, *, holder: str, now: datetime, done_since: datetime, inclusive: bool
) -> bool:
    """Takes `job` by a compare-and-set on its lease row: not done since `done_since` (at it,
    with `inclusive`), and no unexpired taker."""
    last_run = db.execute(select(col(Lease.last_run_at)).where(col(Lease.name) == job)).first()
    if last_run is None:
        insert_ignoring_duplicates(db, LEASES, [{"name": job}], LEASES.c.name)
    elif last_run[0] is not None and _done(last_run[0], done_since, inclusive=inclusive):
        db.commit()
        return False  # done already: the common case costs one read, no write
    column = col(Lease.last_run_at)
    undone = column.is_(None) | ((column <= done_since) if inclusive else (column < done_since))
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            undone,
            col(Lease.holder).is_(None) | (col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + JOB_LEASE)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def _done(last_run: datetime, done_since: datetime, *, inclusive: bool) -> bool:
    return last_run > done_since or (last_run == done_since and not inclusive)
