"""Sends many messages of one actor to Dramatiq's Redis broker in one round trip.

`actor.send` costs a Redis round trip per message, and the webhook answer waits for it: a
group of 16 deliveries paid 16 of them in a row. This queues the same `dispatch` script call
Dramatiq 2.2's `RedisBroker.enqueue` makes (messages built the same way, its enqueue hooks
called) on one pipeline, sent once. Any other broker gets plain `send`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from redis.exceptions import NoScriptError


def send_all(actor: dramatiq.Actor[Any, Any], args: Sequence[Any]) -> None:
    """One message to `actor` per item of `args` (its only argument), in one round trip.

    Raises what the broker raised (redis.ConnectionError, …): then none, some or all of the
    messages were enqueued, and the caller leaves every row to the relay (a message sent twice
    is harmless: each handler is a compare-and-set).
    """
    broker = actor.broker
    if not isinstance(broker, RedisBroker):
        for arg in args:
            actor.send(arg)
        return
    messages = [actor.message(arg).copy(options={"redis_message_id": str(uuid4())}) for arg in args]
    for message in messages:
        broker.emit_before("enqueue", message, None)
    dispatch = broker.scripts["dispatch"]
    try:
        _execute(broker, dispatch.sha, messages)
    except NoScriptError:  # a Redis restarted since: load the script, and send them all again
        dispatch.sha = broker.client.script_load(dispatch.script)
        _execute(broker, dispatch.sha, messages)
    for message in messages:
        broker.emit_after("enqueue", message, None)


def _execute(broker: RedisBroker, sha: str, messages: list[dramatiq.Message[Any]]) -> None:
    """EVALSHA on a plain pipeline: a `Script` on it would first ask SCRIPT EXISTS, a second
    round trip each time."""
    with broker.client.pipeline(transaction=False) as pipe:
        for message in messages:
            pipe.evalsha(sha, 1, broker.namespace, *_enqueue_args(broker, message))
        pipe.execute()


def _enqueue_args(broker: RedisBroker, message: dramatiq.Message[Any]) -> list[Any]:
    """The arguments of `dispatch` for an `enqueue`, as `RedisBroker._dispatch` lays them out."""
    return [
        "enqueue",
        current_millis(),
        message.queue_name,
        broker.broker_id,
        broker.heartbeat_timeout,
        broker.dead_message_ttl,
        broker._should_do_maintenance("enqueue"),
        broker._max_unpack_size(),  # type: ignore[no-untyped-call]
        message.options["redis_message_id"],
        message.encode(),
    ]
