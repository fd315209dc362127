"""Bounds every call a thread makes on its RabbitMQ connection, as a Redis call is bounded.

pika's blocking connection waits for an answer for as long as the connection stays open: a
RabbitMQ that hangs (accepts, never answers: a stopped server, a network dropping packets) held
a thread publishing on a connection opened before, a web hand-over, the clock's relay, a probe,
until the heartbeat gave up on it a minute or more later. A Redis call gives up after
REDIS_TIMEOUT_S. Here a timer on the connection's own I/O loop cuts it once a call has waited
that long, as pika's heartbeat checker does, and the call raises pika's StreamLostError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import pika
import pika.exceptions
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker


@contextmanager
def within(connection: pika.BlockingConnection, seconds: float) -> Iterator[None]:
    """Calls on `connection` inside the block give up after `seconds` in all: the connection
    is cut and the waiting call raises StreamLostError (an AMQPConnectionError)."""
    impl: Any = connection._impl  # the connection under the blocking adapter, its timers

    def cut() -> None:
        error = pika.exceptions.StreamLostError(f"RabbitMQ gave no answer within {seconds} s")
        impl._terminate_stream(error)

    timer = impl._adapter_call_later(seconds, cut)
    try:
        yield
    finally:
        impl._adapter_remove_timeout(timer)


def bounded(broker: RabbitmqBroker) -> AbstractContextManager[None]:
    """`within` this thread's open connection to `broker`, if it has one and a timeout; else
    nothing: a connection not yet opened is bounded by pika's `stack_timeout` while it opens,
    and its first call follows a handshake that just proved the server answers."""
    connection = getattr(broker.state, "connection", None)
    seconds = getattr(broker, "timeout_s", None)
    if connection is None or not connection.is_open or seconds is None:
        return nullcontext()
    return within(connection, seconds)


class BoundedRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker whose sends and queue counts on this thread's connection
    give up after `timeout_s` each (Dramatiq's own retries then open a new connection)."""

    def __init__(self, *, timeout_s: float, **options: Any) -> None:
        super().__init__(**options)
        self.timeout_s = timeout_s

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        with bounded(self):
            return super().enqueue(message, delay=delay)

    def get_queue_message_counts(self, queue_name: str) -> tuple[int, int, int]:
        with bounded(self):
            counts: tuple[int, int, int] = super().get_queue_message_counts(queue_name)
            return counts
