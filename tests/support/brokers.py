"""Runs a real dramatiq Worker on a broker until the given queues are empty."""

from __future__ import annotations

from dramatiq import Broker, Worker

from worker.queue.broker import QUEUES


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
