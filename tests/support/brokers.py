"""Runs a real dramatiq Worker on a broker until the given queues are empty; builds a broker
for a server's URL."""

from __future__ import annotations

from dramatiq import Broker, Worker
from dramatiq.brokers.redis import RedisBroker

from worker.queue.broker import QUEUES, rabbitmq_broker


def broker_at(url: str) -> Broker:
    """Dramatiq's broker for a Redis or a RabbitMQ URL, with the bounded waits the processes
    have (`worker.queue.broker`), without their heartbeats."""
    if url.startswith("amqp"):
        return rabbitmq_broker(url, timeout_s=2.0)
    return RedisBroker(url=url)  # type: ignore[no-untyped-call]


def drain(broker: Broker, queues: tuple[str, ...] = QUEUES, *, threads: int = 4) -> None:
    """Consumes `queues` in this process until every message is handled (30 s at most each)."""
    worker = Worker(broker, worker_threads=threads, worker_timeout=50)
    worker.start()
    try:
        for queue in queues:
            broker.join(queue, timeout=30_000)
        worker.join()
    finally:
        worker.stop()
