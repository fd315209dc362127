"""`worker/queue/rabbitmq_bulk.py`: a group of messages goes to RabbitMQ in one transaction,
all of them or none, and a real worker consumes what was committed."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from tests.support.brokers import drain
from worker.queue import rabbitmq_bulk


def declare(broker: RabbitmqBroker, seen: list[int], name: str) -> dramatiq.Actor[..., None]:
    @dramatiq.actor(queue_name="contract", actor_name=name, broker=broker)
    def handle(item_id: int) -> None:
        seen.append(item_id)

    return handle


def test_messages_sent_together_are_consumed_by_a_real_worker(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    seen: list[int] = []
    handle = declare(rabbitmq_broker, seen, "contract_consumed")
    rabbitmq_bulk.send_all(rabbitmq_broker, handle, [1, 2, 3])
    rabbitmq_bulk.send_all(rabbitmq_broker, handle, [4])  # the same channel, a second group
    drain(rabbitmq_broker, ("contract",))
    assert sorted(seen) == [1, 2, 3, 4]


def test_a_group_that_fails_half_way_leaves_none_of_its_messages_queued(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    seen: list[int] = []
    handle = declare(rabbitmq_broker, seen, "contract_all_or_none")
    # The third message cannot be encoded: two were published before it, in the transaction.
    with pytest.raises(TypeError):
        rabbitmq_bulk.send_all(rabbitmq_broker, handle, [1, 2, object(), 4])
    assert rabbitmq_broker.get_queue_message_counts("contract")[:2] == (0, 0)
    rabbitmq_bulk.send_all(rabbitmq_broker, handle, [5, 6])  # a fresh connection after it
    drain(rabbitmq_broker, ("contract",))
    assert sorted(seen) == [5, 6]
