"""The provider rate limit: a budget per wall-clock second, shared through Redis."""

from __future__ import annotations

import redis

from worker.providers.ratelimit import LocalRateLimiter, RedisRateLimiter, build_rate_limiter


class FakeTime:
    """A wall clock that moves only when someone sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_a_process_sends_at_most_its_budget_per_second_then_waits_for_the_next() -> None:
    time = FakeTime(1000.25)
    limiter = LocalRateLimiter(3, clock=time.clock, sleep=time.sleep)

    for _ in range(3):
        limiter.acquire()
    assert time.slept == []
    limiter.acquire()

    assert time.slept == [0.75]
    assert time.now == 1001.0


def test_two_worker_processes_share_one_budget_through_redis(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    time = FakeTime(2000.5)
    # Two limiters on one Redis: what two worker processes on two machines would build.
    first, second = (
        RedisRateLimiter(
            redis.Redis.from_url(redis_url), "sendgrid", 4, clock=time.clock, sleep=time.sleep
        )
        for _ in range(2)
    )

    for limiter in (first, second, first, second):
        limiter.acquire()
    assert time.slept == []
    second.acquire()  # the fifth request in this second, from either process, waits

    assert time.slept == [0.5]
    assert int(client.get("ladder:ratelimit:sendgrid:2000") or 0) == 5
    assert int(client.get("ladder:ratelimit:sendgrid:2001") or 0) == 1
    assert 0 < int(client.ttl("ladder:ratelimit:sendgrid:2001")) <= 5
    client.flushdb()


def test_the_limiter_is_shared_when_there_is_redis_and_local_otherwise(redis_url: str) -> None:
    assert isinstance(build_rate_limiter("sendgrid", 10, redis_url), RedisRateLimiter)
    assert isinstance(build_rate_limiter("sendgrid", 10, None), LocalRateLimiter)
    build_rate_limiter("sendgrid", None, redis_url).acquire()  # no limit: returns at once
