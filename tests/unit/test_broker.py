"""`worker/queue/broker.py`: the broker BROKER_URL's scheme names, with bounded waits."""

from __future__ import annotations

import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from worker.queue import broker as broker_module
from worker.queue.heartbeats import Heartbeat
from worker.settings import Environment, Settings

RABBITMQ = "amqp://guest:guest@rabbit.internal:5672/%2F"


def settings(*, broker_url: str | None = None, redis_url: str | None = None) -> Settings:
    return Settings(
        ladder_env=Environment.DEVELOPMENT,
        database_url="sqlite://",
        broker_url=broker_url,
        redis_url=redis_url,
    )


def parameters(broker: RabbitmqBroker) -> pika.URLParameters:
    found = broker.parameters
    assert isinstance(found, pika.URLParameters)
    return found


def test_each_scheme_builds_its_broker_and_nothing_the_in_process_one() -> None:
    """Built, not connected: RabbitMQ and Redis are only reached at the first call."""
    rabbitmq = broker_module.build_broker(settings(broker_url=RABBITMQ))
    assert isinstance(rabbitmq, RabbitmqBroker)
    assert rabbitmq.confirm_delivery  # a send returns once RabbitMQ has the message
    assert any(isinstance(each, Heartbeat) for each in rabbitmq.middleware)
    redis = broker_module.build_broker(settings(redis_url="redis://redis.internal:6379/0"))
    assert isinstance(redis, RedisBroker)
    assert isinstance(broker_module.build_broker(settings()), StubBroker)


def test_rabbitmq_gives_up_connecting_after_the_timeout_unless_its_url_says_otherwise() -> None:
    bounded = parameters(broker_module.rabbitmq_broker(RABBITMQ, timeout_s=2))
    timeouts = (bounded.socket_timeout, bounded.stack_timeout, bounded.blocked_connection_timeout)
    assert timeouts == (2, 2, 2)
    assert bounded.connection_attempts == 1  # the relay is the retry
    url = RABBITMQ + "?socket_timeout=9&connection_attempts=3"
    named = parameters(broker_module.rabbitmq_broker(url, timeout_s=2))
    assert (named.socket_timeout, named.connection_attempts, named.stack_timeout) == (9, 3, 2)
