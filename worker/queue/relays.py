"""The relays: rows left waiting (a lost message, a broker that was away, a delivery now due)
are handed to the broker again, a thousand at a time. A repeated message is harmless: every
actor starts with a compare-and-set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlmodel import Session, col

from models import Delivery, DeliveryStatus, Event, EventStatus, InboxItem, InboxStatus
from worker.queue import broker, dispatch

BATCH = 1000


class RestartWatch:
    """Notices a broker that restarted since the last look: a Redis started again has lost
    the messages it held, so every row enqueued and still waiting needs sending again now,
    not after `requeue_after_s`. The first look only learns the server's run id."""

    def __init__(self) -> None:
        self.run_id: str | None = None

    def restarted(self) -> bool:
        run_id = broker.server_run_id()
        if run_id is None:  # away, or in-process: look again next time
            return False
        before, self.run_id = self.run_id, run_id
        return before is not None and before != run_id

<<<<<<< Updated upstream

=======
>>>>>>> Stashed changes
Send = Callable[[Session, Sequence[int]], int]


def relay_deliveries(db: Session, *, now: datetime, requeue_after: timedelta) -> int:
    """Scheduled deliveries now due. Returns how many ids were sent."""
    waiting = (col(Delivery.status) == DeliveryStatus.SCHEDULED) & (col(Delivery.send_at) <= now)
    return _relay(db, Delivery, waiting, dispatch.deliveries, now=now, requeue_after=requeue_after)


def relay_events(db: Session, *, now: datetime, requeue_after: timedelta) -> int:
    """Events stored but not processed."""
    waiting = col(Event.status) == EventStatus.PENDING
    return _relay(db, Event, waiting, dispatch.events, now=now, requeue_after=requeue_after)


def relay_inbox(db: Session, *, now: datetime, requeue_after: timedelta) -> int:
    """Webhook deliveries stored but not normalised (a lost message, or one waiting its turn)."""
    waiting = col(InboxItem.status) == InboxStatus.PENDING
    return _relay(db, InboxItem, waiting, dispatch.inbox, now=now, requeue_after=requeue_after)


def _relay(
    db: Session,
    model: Any,
    waiting: ColumnElement[bool],
    send: Send,
    *,
    now: datetime,
    requeue_after: timedelta,
) -> int:
    """Hands every waiting row not enqueued within `requeue_after` to `send`, BATCH rows at a
    time, each batch marked enqueued and committed first. Returns how many ids were sent."""
    if not broker.has_consumer():  # nobody would read the messages: leave the rows waiting
        return 0
    total = 0
    while ids := take_waiting(db, model, waiting, now=now, requeue_after=requeue_after):
        total += send(db, ids)
        if len(ids) < BATCH:
            break
    return total


def take_waiting(
    db: Session,
    model: Any,
    waiting: ColumnElement[bool],
    *,
    now: datetime,
    requeue_after: timedelta,
) -> list[int]:
    """Marks up to BATCH waiting rows, not enqueued within `requeue_after`, enqueued now;
    commits; returns their ids."""
    stale = col(model.enqueued_at).is_(None) | (col(model.enqueued_at) < now - requeue_after)
    query = select(model.id).where(waiting, stale).order_by(model.id).limit(BATCH)
    ids = list(db.execute(query).scalars())
    if ids:
        db.execute(update(model).where(col(model.id).in_(ids)).values(enqueued_at=now))
    db.commit()
    return ids
