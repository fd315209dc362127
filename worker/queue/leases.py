"""Leases: the clock's leader lease, and the last run of each periodic job, as rows that a
compare-and-set takes, so two clocks never lead or run a job at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
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


def is_due_daily(db: Session, job: str, now: datetime) -> bool:
    """True once per UTC day for `job`: a compare-and-set on its lease row's last_run_at."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    row = db.execute(select(col(Lease.last_run_at)).where(col(Lease.name) == job)).first()
    if row is not None and row[0] is not None and row[0] >= midnight:
        db.commit()
        return False  # ran today already: the common case costs one read, no write
    if row is None:
        insert_ignoring_duplicates(db, LEASES, [{"name": job}], LEASES.c.name)
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            col(Lease.last_run_at).is_(None) | (col(Lease.last_run_at) < midnight),
        )
        .values(last_run_at=now)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def is_due_every(db: Session, job: str, now: datetime, period: timedelta) -> bool:
    """True at most once per `period` for `job`: a compare-and-set on its lease row."""
    insert_ignoring_duplicates(db, LEASES, [{"name": job}], LEASES.c.name)
    result = db.execute(
        update(Lease)
        .where(
            col(Lease.name) == job,
            col(Lease.last_run_at).is_(None) | (col(Lease.last_run_at) <= now - period),
        )
        .values(last_run_at=now)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]
