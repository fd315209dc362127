"""Sends many messages of one actor to Dramatiq's RabbitMQ broker in one AMQP transaction.

With publisher confirms each `actor.send` waits for its own confirm: a group of 16 ids would
pay 16 round trips in a row, as with Redis. Here the group is published on a channel of this
thread in transaction mode (`tx.select`; a channel in confirm mode cannot be one) and
committed once: RabbitMQ takes all of the messages or none, in one round trip. Messages are
built as `RabbitmqBroker.enqueue` builds them, its enqueue hooks called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from worker.queue.rabbitmq_bounds import bounded

# Where this thread's transaction channel is kept on the broker's thread-local state, beside
# the connection and the confirm channel Dramatiq keeps there.
TX_CHANNEL = "ladder_tx_channel"


def send_all(broker: RabbitmqBroker, actor: dramatiq.Actor[Any, Any], args: Sequence[Any]) -> None:
    """One message to `actor` per item of `args`, all committed together or none.

    A connection found closed (RabbitMQ closes one whose thread sat idle past its heartbeat)
    is opened again and the group sent once more, as Dramatiq's own enqueue retries; a commit
    whose answer was lost may so be sent twice, which the actors' compare-and-set makes
    harmless. Raises what pika raised (AMQPConnectionError, …) when RabbitMQ is away: then
    this thread's connection is dropped, and the caller leaves every row to the relay.
    """
    messages = [actor.message(arg) for arg in args]
    try:
        _publish(broker, messages)
    except pika.exceptions.AMQPError:
        _publish(broker, messages)
    for message in messages:
        broker.emit_after("enqueue", message, None)


def _publish(broker: RabbitmqBroker, messages: list[dramatiq.Message[Any]]) -> None:
    """The messages published on this thread's transaction channel, and committed."""
    try:
        with bounded(broker):  # a RabbitMQ that stopped answering holds no thread for long
            for queue_name in {message.queue_name for message in messages}:
                broker.declare_queue(queue_name, ensure=True)
            channel = _tx_channel(broker)
            for message in messages:
                broker.emit_before("enqueue", message, None)
                channel.basic_publish(
                    exchange="",
                    routing_key=message.queue_name,
                    body=message.encode(),
                    properties=pika.BasicProperties(
                        delivery_mode=2,  # persistent, as Dramatiq's own enqueue
                        priority=message.options.get("broker_priority"),
                    ),
                )
            channel.tx_commit()
    except Exception:
        _forget(broker)
        raise


def _tx_channel(broker: RabbitmqBroker) -> Any:
    """This thread's channel in transaction mode, on this thread's connection."""
    connection = broker.connection
    channel = getattr(broker.state, TX_CHANNEL, None)
    if channel is None or not channel.is_open or channel.connection is not connection:
        channel = connection.channel()
        channel.tx_select()
        setattr(broker.state, TX_CHANNEL, channel)
        broker.channels.add(channel)  # closed with the broker
    return channel


def _forget(broker: RabbitmqBroker) -> None:
    """Drops this thread's channels and connection after a failure."""
    channel = getattr(broker.state, TX_CHANNEL, None)
    if channel is not None:
        broker.channels.discard(channel)
        delattr(broker.state, TX_CHANNEL)
    del broker.connection
