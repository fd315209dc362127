"""Builds the broker from settings and makes it Dramatiq's global broker; nothing else."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import dramatiq
import pika.exceptions
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from worker.queue import heartbeats
from worker.queue.rabbitmq_bounds import BoundedRabbitmqBroker
from worker.settings import BrokerKind, Settings, get_settings

logger = logging.getLogger(__name__)

QUEUES = ("events", "deliveries")


def build_broker(settings: Settings) -> dramatiq.Broker:
    """RabbitMQ or Redis as BROKER_URL (else REDIS_URL) says; with neither, the in-process
    broker of the embedded mode."""
    address, kind = settings.broker_address, settings.broker_kind
    if address is None:
        broker = StubBroker()
        broker.emit_after("process_boot")
        return broker
    remote: dramatiq.Broker
    if kind is BrokerKind.RABBITMQ:
        remote = rabbitmq_broker(address, timeout_s=settings.redis_timeout_s)
    else:
        # Bounded waits: a Redis that hangs (accepts, never answers) fails a call after this
        # long instead of holding its thread for good; the web answers before that anyway.
        client = redis.Redis.from_url(
            address,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        remote = RedisBroker(client=client)  # type: ignore[no-untyped-call]
    # Each worker process beats while it runs: `ladder status` lists them.
    remote.add_middleware(heartbeats.Heartbeat(settings.database_url))
    return remote


# pika's connection settings a URL may name itself (`?socket_timeout=5`): those it names win.
_BOUNDED = ("socket_timeout", "stack_timeout", "blocked_connection_timeout")


def rabbitmq_broker(url: str, *, timeout_s: float) -> RabbitmqBroker:
    """Dramatiq's RabbitMQ broker with publisher confirms: `send` returns once RabbitMQ has
    the message (persistent, on a durable queue), so a hand-off that returned is not lost
    by a RabbitMQ restart. Connecting, a publisher RabbitMQ blocks (an alarm), and a send or
    a count on a connection RabbitMQ stopped answering (`rabbitmq_bounds`) give up after
    `timeout_s`, as a Redis call does."""
    broker = BoundedRabbitmqBroker(url=url, confirm_delivery=True, timeout_s=timeout_s)
    named = parse_qs(urlsplit(url).query)
    parameters = broker.parameters
    for each in parameters if isinstance(parameters, list) else [parameters]:
        for name in _BOUNDED:
            if name not in named:
                setattr(each, name, timeout_s)
        if "connection_attempts" not in named:  # one try: the relay is the retry
            each.connection_attempts = 1
    return broker


def install(broker: dramatiq.Broker) -> None:
    """Makes `broker` the global one and moves the actors already declared onto it."""
    previous = dramatiq.get_broker()
    dramatiq.set_broker(broker)
    if previous is broker:
        return
    for name in previous.get_declared_actors():
        actor = previous.get_actor(name)
        actor.broker = broker
        broker.declare_actor(actor)


# What a Redis or a RabbitMQ away or hung raises (Dramatiq's ConnectionError: RabbitMQ's
# enqueue after its own retries; pika's connector errors are no AMQPError: a handshake that
# got no answer within `stack_timeout` raises AMQPConnectorStackTimeout).
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    dramatiq.errors.BrokerConnectionError,
    pika.exceptions.AMQPError,
    AMQPConnectorException,
    OSError,
)


def is_remote() -> bool:
    """True when messages go to a broker server (Redis, RabbitMQ), not the in-process one."""
    return isinstance(dramatiq.get_broker(), RedisBroker | RabbitmqBroker)


def ping() -> None:
    """Asks the broker server for an answer; raises one of UNAVAILABLE when it gives none."""
    current = dramatiq.get_broker()
    if isinstance(current, RedisBroker):
        current.client.ping()
    elif isinstance(current, RabbitmqBroker):
        _rabbitmq_counts(current, QUEUES[0])


def _rabbitmq_counts(rabbitmq: RabbitmqBroker, queue_name: str) -> tuple[int, int]:
    """Messages ready in `queue_name` and in its delay queue (a round trip each). A connection
    found closed (idle past its heartbeat) is opened again once; after a failure this thread's
    connection is dropped, so the next call connects afresh."""
    for attempt in (1, 2):
        try:
            ready, delayed, _dead = rabbitmq.get_queue_message_counts(queue_name)
            return int(ready), int(delayed)
        except UNAVAILABLE:
            del rabbitmq.connection
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def server_run_id() -> str | None:
    """The Redis server's run id, new each time the server starts (and loses the messages it
    held in memory); None for the in-process broker or a Redis that does not answer. None
    for RabbitMQ too: its queues are durable and its messages persistent, a restart keeps
    them."""
    current = dramatiq.get_broker()
    if not isinstance(current, RedisBroker):
        return None
    try:
        return str(current.client.info("server")["run_id"])
    except UNAVAILABLE:
        return None


def waiting_messages(queue_name: str) -> int | None:
    """How many messages wait in `queue_name` and its delay queue, taken by no worker yet;
    None when the broker cannot say (the server away, or a broker this code does not read).

    A message a worker took (prefetched, running, or a retry held until its time) is not
    counted: Redis keeps it apart from the queue's list, RabbitMQ counts it unacknowledged
    (not ready), the in-process broker keeps it in the worker's memory.
    """
    current = dramatiq.get_broker()
    names = (queue_name, dq_name(queue_name))
    if isinstance(current, RedisBroker):
        try:
            pipe = current.client.pipeline(transaction=False)
            for name in names:
                pipe.llen(f"{current.namespace}:{name}")  # the list the dispatch script pushes
            return sum(int(length) for length in pipe.execute())
        except UNAVAILABLE:
            return None
    if isinstance(current, RabbitmqBroker):
        try:
            return sum(_rabbitmq_counts(current, queue_name))
        except UNAVAILABLE:
            return None
    if isinstance(current, StubBroker):
        return sum(int(current.queues[name].qsize()) for name in names if name in current.queues)
    return None


def has_consumer() -> bool:
    """False when messages would vanish: an in-process broker with no worker in this process."""
    broker = dramatiq.get_broker()
    return not isinstance(broker, StubBroker) or getattr(broker, "ladder_consumer", False)


def mark_consumed_here(broker: dramatiq.Broker) -> None:
    """Called by processes that run an in-process worker (`ladder run`, the demo, tests)."""
    broker.ladder_consumer = True  # type: ignore[attr-defined]


broker = build_broker(get_settings())
dramatiq.set_broker(broker)
