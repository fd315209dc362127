"""The sending pause: a durable flag per provider, set when it refuses our credentials."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from models import SendingPause
from models.db import insert_ignoring_duplicates


def active_pause(db: Session, provider: str, now: datetime) -> SendingPause | None:
    """The pause in force for `provider`, or None when it may send (never paused, resumed, or
    its probe time has come: the next delivery then tries the credentials once more)."""
    return db.scalars(
        select(SendingPause).where(
            col(SendingPause.provider) == provider, col(SendingPause.probe_at) > now
        )
    ).one_or_none()


def pause(db: Session, provider: str, reason: str, *, now: datetime, probe_after_s: float) -> None:
    """Pauses sending through `provider` for every worker until the probe time; commits."""
    probe_at = now + timedelta(seconds=probe_after_s)
    values = {"reason": reason, "paused_at": now, "probe_at": probe_at}
    insert_ignoring_duplicates(
        db,
        SendingPause.__table__,  # type: ignore[attr-defined]
        [{"provider": provider, **values}],
        SendingPause.__table__.c.provider,  # type: ignore[attr-defined]
    )
    # Already paused (a probe failed again): the reason and probe time move on.
    db.execute(update(SendingPause).where(col(SendingPause.provider) == provider).values(values))
    db.commit()


def resume(db: Session, provider: str | None = None) -> int:
    """Lifts the pause of `provider` (every provider when None); returns how many were lifted."""
    statement = delete(SendingPause)
    if provider is not None:
        statement = statement.where(col(SendingPause.provider) == provider)
    result = db.execute(statement)
    db.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def all_pauses(db: Session) -> list[SendingPause]:
    return list(db.scalars(select(SendingPause).order_by(col(SendingPause.provider))))
