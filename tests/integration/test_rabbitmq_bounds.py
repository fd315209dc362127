"""`worker/queue/rabbitmq_bounds.py`: a RabbitMQ that stops answering (it accepts, never
answers) holds no thread past the timeout, as a Redis that hangs holds none past its own: on a
connection opened before it hung, and on one opening while it hangs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from tests.support.stall import StallingProxy
from tests.support.tcp_relay import address, on_port
from worker.queue import broker as broker_module
from worker.queue import rabbitmq_bulk
from worker.queue.actors import normalise_batch
from worker.queue.allinone import installed

# Without a bound a call waits for the broker to answer again: the test wakes it after this
# long, and asserts the call gave up before.
HUNG_FOR_S = 20.0

CALLS: dict[str, Callable[[RabbitmqBroker], object]] = {
    "a send": lambda _broker: normalise_batch.send([1]),
    "a web group": lambda broker: rabbitmq_bulk.send_all(broker, normalise_batch, [[1], [2]]),
    "a readiness probe": lambda _broker: broker_module.ping(),
}


@pytest.fixture
def hanging(rabbitmq_url: str) -> Iterator[tuple[StallingProxy, RabbitmqBroker]]:
    """This worker's RabbitMQ behind a proxy the test can stall, its queues purged."""
    with StallingProxy(address(rabbitmq_url)) as proxy:
        broker = broker_module.rabbitmq_broker(on_port(rabbitmq_url, proxy.port), timeout_s=1.0)
        with installed(broker):
            assert isinstance(broker, RabbitmqBroker)
            broker.flush_all()
            yield proxy, broker
            proxy.resume()
            broker.flush_all()


@pytest.mark.parametrize("call", CALLS)
def test_a_call_on_a_connection_rabbitmq_stopped_answering_gives_up_while_it_still_hangs(
    hanging: tuple[StallingProxy, RabbitmqBroker], call: str
) -> None:
    """Before: pika waited on the open connection until RabbitMQ answered again (or its
    heartbeat gave up, a minute or more later), holding a web, clock or worker thread."""
    proxy, broker = hanging
    CALLS[call](broker)  # this thread's connection, open and answering
    proxy.stall()
    wake = threading.Timer(HUNG_FOR_S, proxy.resume)
    wake.start()
    try:
        with pytest.raises(broker_module.UNAVAILABLE):
            CALLS[call](broker)
        assert proxy.is_stalled  # it gave up on its own, RabbitMQ still hung
    finally:
        wake.cancel()


def test_while_rabbitmq_hangs_a_new_connection_the_queue_is_unknown_rather_than_an_error(
    hanging: tuple[StallingProxy, RabbitmqBroker],
) -> None:
    """A handshake with no answer raises pika's AMQPConnectorStackTimeout, no AMQPError: it
    escaped `waiting_messages` (and failed the clock's whole tick) instead of meaning "cannot
    say"."""
    proxy, _broker = hanging
    proxy.stall()
    with ThreadPoolExecutor(max_workers=1) as fresh:  # a thread with no connection yet
        assert fresh.submit(broker_module.waiting_messages, "events").result() is None
        with pytest.raises(broker_module.UNAVAILABLE):
            fresh.submit(broker_module.ping).result()
