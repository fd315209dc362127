"""The provider rate limit: a budget per wall-clock second, shared through Redis."""

from __future__ import annotations

import time

import redis

from worker.providers.ratelimit import LocalRateLimiter, RedisRateLimiter, build_rate_limiter
from worker.providers.sendgrid import SendGridProvider
from worker.providers.smtp import SmtpProvider
from worker.settings import Settings


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


def sent_per_second(client: redis.Redis, budget: int) -> dict[int, int]:
    """Requests let through in each epoch second, from the shared counters (a count above the
    budget is requests that were refused and waited)."""
    keys: list[bytes] = client.keys("ladder:ratelimit:sendgrid:*")  # type: ignore[assignment]
    return {int(key.rsplit(b":", 1)[1]): min(int(client.get(key) or 0), budget) for key in keys}


def test_with_redis_the_budget_is_counted_there_and_the_request_over_it_waits_a_second(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    limiter = build_rate_limiter("sendgrid", 2, redis_url)

    for _ in range(3):
        limiter.acquire()

    # Three requests, at most two in any second: the third went out in a later second.
    sent = sent_per_second(client, 2)
    assert sum(sent.values()) == 3
    assert len(sent) >= 2
    client.flushdb()


def test_without_redis_the_process_counts_and_the_request_over_the_budget_waits_a_second(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    limiter = build_rate_limiter("sendgrid", 2, None)
    first_second = int(time.time())

    for _ in range(3):
        limiter.acquire()

    assert int(time.time()) > first_second  # the third waited for the next second
    assert client.keys("ladder:ratelimit:*") == []  # nothing shared


def test_without_a_budget_no_request_is_counted(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    limiter = build_rate_limiter("sendgrid", None, redis_url)

    for _ in range(1_000):
        limiter.acquire()

    assert client.keys("ladder:ratelimit:*") == []


def test_on_rabbitmq_each_process_counts_for_itself_unless_redis_url_names_a_redis(
    redis_url: str,
) -> None:
    rabbitmq = {"broker_url": "amqp://guest:guest@127.0.0.1:5672/%2F", "database_url": "sqlite://"}
    sendgrid = {
        "email_backend": "sendgrid",
        "sendgrid_api_key": "SG.k",
        "sendgrid_requests_per_s": 2,
    }
    smtp = {"email_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_messages_per_s": 2}
    for provider, values in ((SendGridProvider, sendgrid), (SmtpProvider, smtp)):
        alone = provider.from_settings(Settings(**rabbitmq, **values))  # type: ignore[arg-type]
        assert isinstance(alone.rate_limiter, LocalRateLimiter), provider
        with_redis = Settings(**rabbitmq, **values, redis_url=redis_url)  # type: ignore[arg-type]
        assert isinstance(provider.from_settings(with_redis).rate_limiter, RedisRateLimiter)
