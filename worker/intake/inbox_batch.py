"""`normalise_many`: many stored webhook deliveries read into canonical events in one
transaction, as `POST /events` stores a batch; a row the batch cannot take goes alone."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from models import InboxItem, InboxStatus
from models.states import INBOX_ROW
from models.tables import INBOX
from worker.errors import NOT_THE_ROWS_FAULT
from worker.intake import inbox
from worker.intake.ingest import store_events
from worker.settings import Settings
from worker.sources import Normalised

logger = logging.getLogger(__name__)

# Ids per `normalise_batch` message: a batch's events go on as one `process_batch`.
BATCH = 100

Read = tuple[InboxItem, Normalised]


def normalise_many(
    db: Session,
    inbox_ids: Sequence[int],
    *,
    now: datetime,
    settings: Settings,
    enqueued_at: datetime | None = None,
) -> list[int]:
    """Reads the pending rows among `inbox_ids` into canonical events and stores them with
    the rows' new state in one commit. Returns the new event ids, for `process_batch`.

    Each row moves `pending → normalised` by its own compare-and-set in that commit, so a row
    another worker took first (the same ids sent twice) is left to it, and its events are not
    stored twice. A row the batch cannot take — one whose read raises (unreadable, ignored,
    waiting), one carrying a privacy request, or a batch whose storing fails (a value the
    database refuses) — goes through `inbox.normalise` alone, which marks it with the reason,
    so one bad row never holds the others. `NOT_THE_ROWS_FAULT` propagates: the rows stay
    pending for the actor's retry.
    """
    items = db.scalars(
        select(InboxItem)
        .where(col(InboxItem.id).in_(inbox_ids), col(InboxItem.status) == InboxStatus.PENDING)
        .order_by(col(InboxItem.id))
    ).all()
    together, alone = _read_all(db, items, settings)
    new: list[int] = []
    if together:
        try:
            new = _store_together(db, together, now=now, enqueued_at=enqueued_at)
        except NOT_THE_ROWS_FAULT:
            raise
        except Exception as exc:  # a value the database refuses: find the row, alone
            db.rollback()
            logger.warning(
                "a batch of %d inbox rows met %s; normalising them one by one",
                len(together),
                type(exc).__name__,
            )
            alone += [item.id for item, _ in together if item.id is not None]
    else:
        db.rollback()  # ends the read: nothing to store together
    for inbox_id in sorted(alone):
        new += inbox.normalise(db, inbox_id, now=now, settings=settings, enqueued_at=enqueued_at)
    return new


def _read_all(
    db: Session, items: Sequence[InboxItem], settings: Settings
) -> tuple[list[Read], list[int]]:
    """(rows read, with what they gave) and the ids of those to normalise alone."""
    together: list[Read] = []
    alone: list[int] = []
    for item in items:
        assert item.id is not None
        try:
            result = inbox.read(db, item, settings)
        except NOT_THE_ROWS_FAULT:
            raise
        except Exception:  # `normalise` alone reads it again and records why
            alone.append(item.id)
            continue
        if result.privacy:  # carried out one row a transaction, once, as it always was
            alone.append(item.id)
        else:
            together.append((item, result))
    return together, alone


def _store_together(
    db: Session, together: list[Read], *, now: datetime, enqueued_at: datetime | None
) -> list[int]:
    ids = [item.id for item, _ in together]
    claim = INBOX_ROW.update(
        InboxStatus.PENDING,
        InboxStatus.NORMALISED,
        col(InboxItem.id).in_(ids),
        normalised_at=now,
        attempts=InboxItem.attempts + 1,
        error=None,
    )
    claimed = set(
        db.scalars(claim.returning(col(InboxItem.id)).execution_options(synchronize_session=False))
    )
    # Rows not claimed were taken by another worker since they were read: theirs, not ours.
    mine = [(item, result) for item, result in together if item.id in claimed]
    if not mine:
        db.rollback()
        return []
    db.execute(
        update(INBOX).where(INBOX.c.id == bindparam("row_id")).values(events=bindparam("count")),
        [{"row_id": item.id, "count": len(result.events)} for item, result in mine],
    )
    events = [event for _, result in mine for event in result.events]
    # Commits the rows' state with their events.
    return store_events(db, events, now=now, enqueued_at=enqueued_at).stored
