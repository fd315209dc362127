"""`worker/queue/rabbitmq_bulk.py`: a group of messages goes to RabbitMQ in one transaction,
all of them or none, and a real worker consumes what was committed."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from tests.support.brokers import drain
from tests.support.tcp_relay import TcpRelay
from worker.queue import broker as broker_module
from worker.queue import rabbitmq_bulk
from worker.queue.allinone import installed


def declare(broker: RabbitmqBroker, seen: list[int], name: str) -> dramatiq.Actor[..., None]:
    @dramatiq.actor(queue_name="contract", actor_name=name, broker=broker)
    def handle(item_id: int) -> None:
        seen.append(item_id)

    return handle


def test_messages_sent_together_are_consumed_by_a_real_worker(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    seen: list[int] = []
    handle = declare(rabbitmq_broker, seen, "rabbitmq_contract_consumed")
    rabbitmq_bulk.send_all(rabbitmq_broker, handle, [1, 2, 3])
    rabbitmq_bulk.send_all(rabbitmq_broker, handle, [4])  # the same channel, a second group
    drain(rabbitmq_broker, ("contract",))
    assert sorted(seen) == [1, 2, 3, 4]


def test_a_group_that_fails_half_way_leaves_none_of_its_messages_queued(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    seen: list[int] = []
    handle = declare(rabbitmq_broker, seen, "rabbitmq_contract_all_or_none")
    # The third message cannot be encoded: two were published before it, in the transaction.
    with pytest.raises(TypeError):
        rabbitmq_bulk.send_all(rabbitmq_broker, handle, [1, 2, object(), 4])
    assert rabbitmq_broker.get_queue_message_counts("contract")[:2] == (0, 0)
    rabbitmq_bulk.send_all(rabbitmq_broker, handle, [5, 6])  # a fresh connection after it
    drain(rabbitmq_broker, ("contract",))
    assert sorted(seen) == [5, 6]


def test_a_connection_cut_since_the_last_group_is_opened_again_for_the_next(
    rabbitmq_url: str,
) -> None:
    """RabbitMQ closes a connection whose thread sat idle past its heartbeat (a web thread
    between two groups): the next group must not find the broker away for it."""
    seen: list[int] = []
    with TcpRelay(rabbitmq_url) as relay:
        broker = broker_module.rabbitmq_broker(relay.url, timeout_s=2.0)
        with installed(broker):
            handle = declare(broker, seen, "rabbitmq_contract_reconnected")
            broker.flush_all()
            rabbitmq_bulk.send_all(broker, handle, [1])
            relay.stop()  # every connection cut; RabbitMQ itself still there
            relay.start()
            rabbitmq_bulk.send_all(broker, handle, [2, 3])
            assert broker_module.waiting_messages("contract") == 3
            drain(broker, ("contract",))
            broker.flush_all()
    assert sorted(seen) == [1, 2, 3]
