"""Hands committed row ids to the broker; a failed hand-off leaves the row for the relay."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import update
from sqlmodel import Session

from models.db import session
from worker.queue import broker, rabbitmq_bulk, redis_bulk

logger = logging.getLogger(__name__)


# After a failed hand-off, the broker is taken as away this long: rows are stored for the relay
# and no request waits on (or leaves a thread stuck in) a broker that hangs. Kept on the broker
# object itself: a process that installs a new broker (tests, the embedded mode) starts afresh.
BROKER_AWAY_FOR_S = 2.0
AWAY_UNTIL = "ladder_away_until"


def broker_is_away() -> bool:
    """True for a moment after a hand-off to the current broker failed in this process."""
    return time.monotonic() < getattr(dramatiq.get_broker(), AWAY_UNTIL, 0.0)


def _mark_broker_away() -> None:
    setattr(dramatiq.get_broker(), AWAY_UNTIL, time.monotonic() + BROKER_AWAY_FOR_S)


def enqueue_at(now: datetime) -> datetime | None:
    """The `enqueued_at` to store on a new row: None when nobody here would consume the message,
    or the broker was just found away (the relay sends it)."""
    return now if broker.has_consumer() and not broker_is_away() else None


def enqueue(db: Session, actor: dramatiq.Actor[Any, Any], model: Any, ids: Sequence[int]) -> int:
    """Sends one message per id, after the rows are committed. Returns how many were sent.

    If the broker is away the rows keep `enqueued_at = NULL`, and the clock's relay enqueues them
    on its next tick: a broker outage delays work, it never loses it.
    """
    return _send(db, actor, model, ids, size=None)


def enqueue_batches(
    db: Session, actor: dramatiq.Actor[Any, Any], model: Any, ids: Sequence[int], *, size: int
) -> int:
    """Like `enqueue`, with one message per `size` ids: for an actor that takes a list of ids.

    Returns how many ids were sent.
    """
    return _send(db, actor, model, ids, size=size)


def enqueue_together(
    database_url: str,
    actor: dramatiq.Actor[Any, Any],
    model: Any,
    ids: Sequence[int],
    *,
    size: int | None = None,
) -> int:
    """Like `enqueue` (or `enqueue_batches`, given `size`), all in one round trip to the broker
    (`worker.queue.redis_bulk`, `worker.queue.rabbitmq_bulk`) and with no database connection
    unless the broker fails: for the web process, whose answer waits for it. If the broker
    fails, every row is left to the relay. Returns how many ids were sent.
    """
    if not broker.has_consumer() or not ids:
        return 0
    args: list[Any] = list(ids)
    if size is not None:
        args = [list(ids[start : start + size]) for start in range(0, len(ids), size)]
    try:
        if broker_is_away():
            raise BrokerAway("a hand-off failed a moment ago")
        _send_together(actor, args)
    except Exception as exc:  # redis.ConnectionError, pika's AMQPError, … from the broker
        if not isinstance(exc, BrokerAway):
            _mark_broker_away()
        _log_broker_away(model, len(ids), exc)
        with session(database_url) as db:
            _leave_for_relay(db, model, ids)
        return 0
    return len(ids)


def _send_together(actor: dramatiq.Actor[Any, Any], args: Sequence[Any]) -> None:
    if isinstance(actor.broker, RabbitmqBroker):
        rabbitmq_bulk.send_all(actor.broker, actor, args)  # one AMQP transaction
    else:
        redis_bulk.send_all(actor, args)  # one Redis pipeline (plain sends in-process)


class BrokerAway(Exception):
    """Not sent: the broker was found away a moment ago."""


def _send(
    db: Session,
    actor: dramatiq.Actor[Any, Any],
    model: Any,
    ids: Sequence[int],
    *,
    size: int | None,
) -> int:
    """One message per id (`size` None: the id itself) or per `size` ids (a list), in order;
    at the first broker failure the rest are left to the relay. Returns how many ids were sent."""
    if not broker.has_consumer():
        return 0
    sent = 0
    step = size or 1
    for start in range(0, len(ids), step):
        chunk = list(ids[start : start + step])
        try:
            actor.send(chunk if size else chunk[0])
        except Exception as exc:  # redis.ConnectionError, dramatiq's ConnectionClosed, …
            _mark_broker_away()
            _log_broker_away(model, len(ids) - start, exc)
            _leave_for_relay(db, model, ids[start:])
            break
        sent += len(chunk)
    return sent


def _log_broker_away(model: Any, count: int, exc: Exception) -> None:
    logger.warning(
        "broker unavailable, %d %s rows left to the relay: %s",
        count,
        model.__tablename__,
        type(exc).__name__,
    )


def _leave_for_relay(db: Session, model: Any, ids: Sequence[int]) -> None:
    try:
        db.execute(update(model).where(model.id.in_(ids)).values(enqueued_at=None))
        db.commit()
    except Exception:  # the rows are durable: at worst the relay finds them after requeue_after_s
        db.rollback()
        logger.exception("could not clear enqueued_at; the relay will find the rows later")
