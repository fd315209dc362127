"""The all-in-one process of the embedded mode: worker threads and the clock beside the web;
and a private broker for the demo and tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
from dramatiq import Worker

import worker.queue.actors  # noqa: F401  (declares the actors, so that they move with the broker)
from worker.queue import broker as broker_module
from worker.queue import clock
from worker.runtime import Runtime


@contextmanager
def installed(broker: dramatiq.Broker) -> Iterator[dramatiq.Broker]:
    """Makes `broker` the global one, with the actors on it, for the block; then closes it and
    puts the previous one back. For the demo and tests, which swap brokers in one process."""
    previous = dramatiq.get_broker()
    broker.emit_after("process_boot")
    broker_module.install(broker)
    try:
        yield broker
    finally:
        broker.close()
        broker_module.install(previous)


@contextmanager
def running_worker(threads: int = 4) -> Iterator[Worker]:
    """Consumes the global broker's queues in this process until the block ends."""
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
