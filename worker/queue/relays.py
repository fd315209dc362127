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
from worker.queue.actors import DELIVERIES, EVENTS

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


Send = Callable[[Session, Sequence[int]], int]


def relay_deliveries(
    db: Session,
    *,
    now: datetime,
    requeue_after: timedelta,
    stranded_after: timedelta | None = None,
) -> int:
    """Scheduled deliveries now due: a wait ended, a retry's back-off ran out, or a message
    lost (`patience`). Returns how many ids were sent."""
    waiting = (col(Delivery.status) == DeliveryStatus.SCHEDULED) & (col(Delivery.send_at) <= now)
    after = patience(DELIVERIES["queue_name"], requeue_after, stranded_after)
    return _relay(db, Delivery, waiting, dispatch.deliveries, now=now, requeue_after=after)


def relay_events(
    db: Session,
    *,
    now: datetime,
    requeue_after: timedelta,
    stranded_after: timedelta | None = None,
) -> int:
    """Events stored but not processed."""
    waiting = col(Event.status) == EventStatus.PENDING
    after = patience(EVENTS["queue_name"], requeue_after, stranded_after)
    return _relay(db, Event, waiting, dispatch.events, now=now, requeue_after=after)


def relay_inbox(
    db: Session,
    *,
    now: datetime,
    requeue_after: timedelta,
    stranded_after: timedelta | None = None,
) -> int:
    """Webhook deliveries stored but not normalised (a lost message, or one waiting its turn)."""
    waiting = col(InboxItem.status) == InboxStatus.PENDING
    after = patience(EVENTS["queue_name"], requeue_after, stranded_after)
    return _relay(db, InboxItem, waiting, dispatch.inbox, now=now, requeue_after=after)


def patience(
    queue_name: str, requeue_after: timedelta, stranded_after: timedelta | None
) -> timedelta:
    """How long a row enqueued and still waiting is left to its message before it is sent
    again. While `queue_name` holds messages (a backlog, or retries waiting their time in
    Redis) the row may simply be waiting its turn: `requeue_after`. When it holds none, every
    message was taken by a worker, and a row still waiting `stranded_after` after its hand-off
    was taken by one that died (SIGKILL, OOM: its prefetched messages die with it) or lost it:
    `stranded_after`. A live worker merely slow with what it prefetched gets a second message
    for those rows, which its claims make harmless.
    """
    if stranded_after is None or stranded_after >= requeue_after:
        return requeue_after
    return stranded_after if broker.waiting_messages(queue_name) == 0 else requeue_after


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
    commits; returns their ids.

    The rows are locked in id order, skipping any a worker holds: a batch locks its rows in
    id order too (`claims.write`), and an UPDATE over a list of ids locks them in the order
    the table stores them, so the two deadlocked now and then. A row skipped is being
    worked on; if it is still waiting at the next tick, that tick takes it.
    """
    stale = col(model.enqueued_at).is_(None) | (col(model.enqueued_at) < now - requeue_after)
    query = (
        select(model.id)
        .where(waiting, stale)
        .order_by(model.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.execute(query).scalars())
    if ids:
        db.execute(update(model).where(col(model.id).in_(ids)).values(enqueued_at=now))
    db.commit()
    return ids
