"""The all-in-one process of the embedded mode: worker threads and the clock beside the web."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
from dramatiq import Worker

from worker.queue import broker as broker_module
from worker.queue import clock
from worker.runtime import Runtime


@contextmanager
def running_worker(threads: int = 4) -> Iterator[Worker]:
    """Consumes the global broker's queues in this process until the block ends."""
    import worker.queue.actors  # noqa: F401  (declares the actors on the broker)

    broker = dramatiq.get_broker()
    broker_module.mark_consumed_here(broker)
    consumer = Worker(broker, worker_threads=threads, worker_timeout=100)
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


@contextmanager
def running_clock(runtime: Runtime) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=clock.run, args=(runtime, stop), name="ladder-clock", daemon=True
    )
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=10)
