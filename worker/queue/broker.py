"""Builds the broker from settings and makes it Dramatiq's global broker; nothing else."""

from __future__ import annotations

import logging

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name

from worker.queue import heartbeats
from worker.settings import Settings, get_settings

logger = logging.getLogger(__name__)

QUEUES = ("events", "deliveries")


def build_broker(settings: Settings) -> dramatiq.Broker:
    """Redis when REDIS_URL is set; otherwise the in-process broker of the embedded mode."""
    if settings.redis_url:
        # Bounded waits: a Redis that hangs (accepts, never answers) fails a call after this
        # long instead of holding its thread for good; the web answers before that anyway.
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        remote = RedisBroker(client=client)  # type: ignore[no-untyped-call]
        # Each worker process beats while it runs: `ladder status` lists them.
        remote.add_middleware(heartbeats.Heartbeat(settings.database_url))
        return remote
    broker = StubBroker()
    broker.emit_after("process_boot")
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


# What a Redis away or hung raises.
UNAVAILABLE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)


def is_remote() -> bool:
    """True when messages go to a broker server (Redis), not the in-process one."""
    return isinstance(dramatiq.get_broker(), RedisBroker)


def ping() -> None:
    """Asks the Redis broker for an answer; raises one of UNAVAILABLE when it gives none."""
    current = dramatiq.get_broker()
    if isinstance(current, RedisBroker):
        current.client.ping()


def server_run_id() -> str | None:
    """The Redis server's run id, new each time the server starts (and loses the messages it
    held in memory); None for the in-process broker or a Redis that does not answer."""
    current = dramatiq.get_broker()
    if not isinstance(current, RedisBroker):
        return None
    try:
        return str(current.client.info("server")["run_id"])
    except UNAVAILABLE:
        return None


def waiting_messages(queue_name: str) -> int | None:
    """How many messages wait in `queue_name` and its delay queue, taken by no worker yet;
    None when the broker cannot say (Redis away, or a broker this code does not read).

    A message a worker took (prefetched, running, or a retry held until its time) is not
    counted: Redis keeps it apart from the queue's list, the in-process broker in the
    worker's memory.
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
