"""The sending pause: a durable flag per provider, set when it refuses our credentials."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update
from sqlmodel import Session, col

from models import Delivery, DeliveryStatus, SendingPause
from models.db import insert_ignoring_duplicates
from models.tables import SENDING_PAUSES


def pause_of(db: Session, provider: str) -> SendingPause | None:
    """The pause recorded for `provider`, if any. Sending waits while `now < probe_at`; from
    then on the next delivery tries the credentials once more, and lifts the pause if they work.
    """
    # A query every time, never the session's identity map: another worker may have paused
    # or resumed since.
    pause = db.scalars(
        select(SendingPause)
        .where(col(SendingPause.provider) == provider)
        .execution_options(populate_existing=True)
    ).one_or_none()
    db.commit()  # end the read: on SQLite every transaction holds the write lock
    return pause


# A process reads the pause at most this often, for every delivery and batch it sends:
# reading it for every email was a tenth of a worker's CPU per email.
FRESH_S = 1.0
_last_read: dict[tuple[Engine, str], tuple[float, SendingPause | None]] = {}
_reads = threading.Lock()


def fresh_pause_of(db: Session, provider: str) -> SendingPause | None:
    """`pause_of`, read again once this process's last read of it is older than FRESH_S: a
    pause another worker records is seen within a second; one this process records or lifts
    (`pause`, `resume`), at once."""
    key = (db.get_bind().engine, provider)  # the engine, one per database (not its URL's text)
    with _reads:
        last = _last_read.get(key)
    if last is not None and time.monotonic() - last[0] <= FRESH_S:
        return last[1]
    found = pause_of(db, provider)
    with _reads:
        _last_read[key] = (time.monotonic(), found)
    return found


def forget_reads() -> None:
    """Forgets every pause this process read (a test's database rolled back under it)."""
    with _reads:
        _last_read.clear()


def _forget(db: Session) -> None:
    url = db.get_bind().engine.url
    with _reads:
        for key in [key for key in _last_read if key[0].url == url]:
            del _last_read[key]


def pause(db: Session, provider: str, reason: str, *, now: datetime, probe_after_s: float) -> None:
    """Pauses sending through `provider` for every worker until the probe time; commits."""
    probe_at = now + timedelta(seconds=probe_after_s)
    values = {"reason": reason, "paused_at": now, "probe_at": probe_at}
    insert_ignoring_duplicates(
        db,
        SENDING_PAUSES,
        [{"provider": provider, **values}],
        SENDING_PAUSES.c.provider,
    )
    # Already paused (a probe failed again): the reason and probe time move on.
    db.execute(update(SendingPause).where(col(SendingPause.provider) == provider).values(values))
    db.commit()
    _forget(db)


def resume(db: Session, provider: str | None = None, *, now: datetime | None = None) -> int:
    """Lifts the pause of `provider` (every provider when None); returns how many were lifted.

    With `now`, deliveries due by then are handed to the clock's next tick at once, instead
    of after the relay's patience (the messages they had were consumed during the pause).
    """
    statement = delete(SendingPause)
    if provider is not None:
        statement = statement.where(col(SendingPause.provider) == provider)
    lifted = int(db.execute(statement).rowcount)  # type: ignore[attr-defined]
    if lifted and now is not None:
        db.execute(
            update(Delivery)
            .where(col(Delivery.status) == DeliveryStatus.SCHEDULED, col(Delivery.send_at) <= now)
            .values(enqueued_at=None)
        )
    db.commit()
    _forget(db)
    return lifted


def all_pauses(db: Session) -> list[SendingPause]:
    return list(db.scalars(select(SendingPause).order_by(col(SendingPause.provider))))
