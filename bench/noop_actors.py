"""A no-op Dramatiq actor on the bench's Redis: the baseline Ladder's figures are divided by.

Run by `dramatiq bench.noop_actors:broker`; REDIS_URL names the Redis, as for Ladder's worker.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

QUEUE = "bench-noop"

broker = RedisBroker(url=os.environ["REDIS_URL"])  # type: ignore[no-untyped-call]


@dramatiq.actor(broker=broker, queue_name=QUEUE)
def noop(i: int) -> None:
    """Does nothing: what the worker spends on it is Dramatiq's own cost per message."""
