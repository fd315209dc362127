"""A provider's request rate, shared by every worker process through Redis (or one process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Returns when one more request may go out now; waits until then."""


class LocalRateLimiter:
    """At most `per_second` requests in each wall-clock second, for one process (embedded)."""

    def __init__(
        self,
        per_second: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.window = 0
        self.used = 0

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                window = int(now)
                if window != self.window:
                    self.window, self.used = window, 0
                if self.used < self.per_second:
                    self.used += 1
                    return
            self.sleep(window + 1 - now)  # the next second opens a new window


class RedisRateLimiter:
    """At most `per_second` requests in each wall-clock second across every process that shares
    the Redis server: one counter per second (INCR, expiring), the boring fixed window.

    Worker machines must keep their clocks in step (NTP): the window is the epoch second.
    Raises redis.RedisError when Redis cannot be reached.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        per_second: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.key = f"ladder:ratelimit:{name}:"
        self.per_second = per_second
        self.clock, self.sleep = clock, sleep

    def acquire(self) -> None:
        while True:
            now = self.clock()
            window = int(now)
            pipe = self.client.pipeline()
            pipe.incr(self.key + str(window))
            pipe.expire(self.key + str(window), 5)
            used, _ = pipe.execute()
            if int(used) <= self.per_second:
                return
            self.sleep(window + 1 - now)


def build_rate_limiter(name: str, per_second: int | None, redis_url: str | None) -> RateLimiter:
    """Shared through Redis when there is one; else for this process only; None: no limit."""
    if per_second is None:
        return _Unlimited()
    if redis_url:
        return RedisRateLimiter(redis.Redis.from_url(redis_url), name, per_second)
    return LocalRateLimiter(per_second)


class _Unlimited:
    def acquire(self) -> None:
        return None
