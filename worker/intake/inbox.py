"""The inbox: stores verified deliveries raw, and `normalise` turns them into canonical events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import DataError
from sqlmodel import Session, col, select

from models import InboxItem, InboxStatus
from models.db import dialect_insert, session
from models.states import INBOX_ROW
from models.tables import INBOX
from worker.canonical import describe_errors
from worker.errors import NOT_THE_ROWS_FAULT
from worker.intake.ingest import store_events
from worker.privacy.requests import carry_out
from worker.settings import Settings
from worker.sources import Ignored, Normalised, Unreadable, Verified, Waiting
from worker.sources.registry import get_source

logger = logging.getLogger(__name__)

# A delivery waiting for something not seen yet is tried this many times, a relay period apart.
WAIT_ATTEMPTS = 5


@dataclass(frozen=True)
class Stored:
    id: int | None  # None for a repeat of a delivery already stored
    duplicate: bool


def row_for(
    source: str,
    verified: Verified,
    body: bytes,
    *,
    now: datetime,
    enqueued_at: datetime | None = None,
) -> dict[str, Any]:
    """The inbox row of one verified delivery, as INSERT takes it. `enqueued_at`: when the
    caller will hand its id to the broker; None leaves it to the relay."""
    return {
        "source": source,
        "topic": verified.topic,
        "dedupe_key": verified.dedupe_key,
        "headers": verified.headers,
        "body": body,
        "received_at": now,
        "status": InboxStatus.PENDING.value,
        "enqueued_at": enqueued_at,
        "events": 0,
        "attempts": 0,
    }


def insert_rows(db: Session, rows: Sequence[dict[str, Any]]) -> list[int | None]:
    """Inserts the rows that are new on (source, dedupe_key) and commits. Returns, per row, its
    new id, or None for a delivery already stored (a repeat, also one earlier in `rows`)."""
    statement = (
        dialect_insert(db.get_bind().dialect.name)(INBOX)
        .on_conflict_do_nothing()
        .returning(INBOX.c.id, INBOX.c.source, INBOX.c.dedupe_key)
    )
    inserted = db.execute(statement, list(rows)).all() if rows else []
    db.commit()
    new = {(source, key): int(row_id) for row_id, source, key in inserted}
    results: list[int | None] = []
    for row in rows:
        results.append(new.pop((row["source"], row["dedupe_key"]), None))
    return results


def store_rows(database_url: str, rows: Sequence[dict[str, Any]]) -> list[int | None]:
    with session(database_url) as db:
        return insert_rows(db, rows)


def store(
    db: Session,
    source: str,
    verified: Verified,
    body: bytes,
    *,
    now: datetime,
    enqueued_at: datetime | None = None,
) -> Stored:
    """Inserts the delivery unless (source, dedupe_key) is stored already, and commits.

    Returns only after the commit: the caller answers 200 then, and enqueues the new id.
    """
    row = row_for(source, verified, body, now=now, enqueued_at=enqueued_at)
    [new_id] = insert_rows(db, [row])
    return Stored(new_id, new_id is None)


def normalise(
    db: Session,
    inbox_id: int,
    *,
    now: datetime,
    settings: Settings,
    enqueued_at: datetime | None = None,
) -> list[int]:
    """Reads one pending delivery into canonical events, stored with the row's new state in one
    commit. Returns the new event ids, for the caller to hand to `process` (`enqueued_at`
    says when it will).

    Returns [] without doing anything if the row is not pending (a repeated message). A row whose
    payload cannot be read is marked failed, one Ladder has no use for ignored, with the reason.
    """
    item = db.scalars(
        INBOX_ROW.update(
            InboxStatus.PENDING,
            InboxStatus.NORMALISED,
            col(InboxItem.id) == inbox_id,
            normalised_at=now,
            attempts=InboxItem.attempts + 1,
            error=None,
        ).returning(InboxItem)
    ).one_or_none()
    if item is None:
        db.rollback()
        return []  # Another worker got there first, or it was ignored or failed earlier.
    try:
        result = read(db, item, settings)
    except Waiting as exc:
        attempts = item.attempts  # read before the rollback expires it
        db.rollback()
        _wait(db, inbox_id, attempts, str(exc), now=now)
        return []
    except Ignored as exc:
        db.rollback()
        _mark(db, inbox_id, InboxStatus.IGNORED, str(exc), now=now)
        return []
    except NOT_THE_ROWS_FAULT:
        raise  # the database away: the row stays pending, the actor retries
    except Exception as exc:
        # A payload of an unexpected shape (Unreadable, a KeyError, a ValueError, a
        # RecursionError…): marked failed with the reason, its try counted, kept for a replay
        # after a fix; never left pending to be retried forever.
        db.rollback()
        logger.info("inbox %d failed: %s", inbox_id, type(exc).__name__)
        _mark(db, inbox_id, InboxStatus.FAILED, _reason(exc), now=now)
        return []
    try:
        return _apply(db, item, result, now=now, settings=settings, enqueued_at=enqueued_at)
    except NOT_THE_ROWS_FAULT:
        raise
    except Exception as exc:  # a value the database refuses (a NUL in a text): no retry helps
        db.rollback()
        logger.warning("inbox %d failed while storing: %s", inbox_id, type(exc).__name__)
        _mark(db, inbox_id, InboxStatus.FAILED, _stored_reason(exc), now=now)
        return []


def _apply(
    db: Session,
    item: InboxItem,
    result: Normalised,
    *,
    now: datetime,
    settings: Settings,
    enqueued_at: datetime | None,
) -> list[int]:
    if result.privacy:
        carry_out(db, item.source, result.privacy, now=now, settings=settings)
    db.execute(
        update(InboxItem).where(col(InboxItem.id) == item.id).values(events=len(result.events))
    )
    # Commits the row's state with the events.
    return store_events(db, result.events, now=now, enqueued_at=enqueued_at).stored


def read(db: Session, item: InboxItem, settings: Settings) -> Normalised:
    """What a row's source module reads from it; writes nothing. Raises what the reader raises
    (Unreadable, Ignored, Waiting, or anything a payload of an unexpected shape provokes)."""
    source = get_source(item.source)
    if source is None:
        raise Unreadable(f"no source module for {item.source!r}")
    return source.normalise(db, item, settings=settings)


def _stored_reason(exc: Exception) -> str:
    """Why the events read from a row could not be stored, without quoting a value."""
    if isinstance(exc, DataError):
        return f"the database refused a value ({type(exc.orig).__name__})"
    return f"{type(exc).__name__} while storing the events read from the payload"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        fields = "; ".join(f"{e['field']}: {e['error']}" for e in describe_errors(exc))
        return f"does not fit the canonical event: {fields}"
    if isinstance(exc, KeyError):
        return f"field {exc} missing from the payload"
    if isinstance(exc, Unreadable):
        return str(exc)
    # Messages of TypeError / ValueError may quote payload values: keep only the kind.
    return f"{type(exc).__name__} while reading the payload"


def _mark(db: Session, inbox_id: int, status: InboxStatus, reason: str, *, now: datetime) -> None:
    INBOX_ROW.move_one(
        db,
        inbox_id,
        InboxStatus.PENDING,
        status,
        error=reason[:2000],
        normalised_at=now,
        attempts=InboxItem.attempts + 1,
    )
    db.commit()


def _wait(db: Session, inbox_id: int, attempts: int, reason: str, *, now: datetime) -> None:
    """Leaves the row pending, enqueued now, so the relay tries again after REQUEUE_AFTER_S.

    `attempts` counts this try; at WAIT_ATTEMPTS the row is marked failed instead.
    """
    if attempts >= WAIT_ATTEMPTS:
        _mark(db, inbox_id, InboxStatus.FAILED, f"{reason}, after {attempts} tries", now=now)
        return
    db.execute(
        update(InboxItem)
        .where(col(InboxItem.id) == inbox_id, col(InboxItem.status) == InboxStatus.PENDING)
        .values(error=f"waiting: {reason}"[:2000], attempts=attempts, enqueued_at=now)
    )
    db.commit()


def reopen(
    db: Session,
    *,
    only_failed: bool = False,
    topic: str | None = None,
    enqueued_at: datetime | None = None,
) -> list[int]:
    """Puts failed and ignored rows (only failed ones if asked) back to pending with their tries
    counted from 0, and commits. Returns their ids, for the caller to hand to `normalise`.
    Normalised rows are never replayed: their events exist.
    """
    states = [InboxStatus.FAILED] if only_failed else [InboxStatus.FAILED, InboxStatus.IGNORED]
    query = select(col(InboxItem.id)).where(col(InboxItem.status).in_(states))
    if topic is not None:
        query = query.where(col(InboxItem.topic) == topic)
    ids = [row_id for row_id in db.exec(query.order_by(col(InboxItem.id))) if row_id is not None]
    if ids:
        INBOX_ROW.move(
            db,
            states,
            InboxStatus.PENDING,
            col(InboxItem.id).in_(ids),
            attempts=0,
            enqueued_at=enqueued_at,
        )
    db.commit()
    return ids
