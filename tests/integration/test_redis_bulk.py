"""The contract `worker/queue/redis_bulk.py` relies on: it imitates Dramatiq's own
`RedisBroker.enqueue` (the `dispatch` script and its arguments, private members included), so
a Dramatiq release that changes them must fail here, by name, before it loses a message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from worker.queue import redis_bulk
from worker.queue.allinone import installed

BROKEN = (
    "worker/queue/redis_bulk.py imitates RedisBroker.enqueue of Dramatiq {tested}; Dramatiq "
    "{found} {what}: update redis_bulk.py (or send with actor.send) before upgrading"
)
TESTED = "2.2"


class Recording:
    """Stands for the broker's `dispatch` script: records each call's keys and arguments."""

    def __init__(self, script: Any) -> None:
        self.script, self.sha = script.script, script.sha
        self.calls: list[tuple[list[Any], list[Any]]] = []

    def __call__(self, keys: list[Any], args: list[Any]) -> None:
        self.calls.append((list(keys), list(args)))


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    with installed(RedisBroker(url=redis_url)) as installed_broker:  # type: ignore[no-untyped-call]
        assert isinstance(installed_broker, RedisBroker)
        installed_broker.flush_all()
        yield installed_broker
        installed_broker.flush_all()


def broken(what: str) -> str:
    return BROKEN.format(tested=TESTED, found=dramatiq.__version__, what=what)


def test_the_dramatiq_version_is_the_one_redis_bulk_was_written_against() -> None:
    assert dramatiq.__version__.startswith(TESTED + "."), broken("is installed")


def test_dramatiq_enqueues_with_the_arguments_redis_bulk_sends(broker: RedisBroker) -> None:
    @dramatiq.actor(queue_name="contract", actor_name="contract_recorded", broker=broker)
    def handle(item_id: int) -> None:
        del item_id

    for name in ("broker_id", "heartbeat_timeout", "dead_message_ttl", "namespace", "scripts"):
        assert hasattr(broker, name), broken(f"has no RedisBroker.{name}")
    for name in ("_should_do_maintenance", "_max_unpack_size"):
        assert callable(getattr(broker, name, None)), broken(f"has no RedisBroker.{name}()")
    recording = Recording(broker.scripts["dispatch"])
    broker.scripts["dispatch"] = recording
    theirs = handle.send(7)  # Dramatiq's own enqueue, through the recording

    [(keys, args)] = recording.calls
    message = handle.message(7).copy(options={"redis_message_id": "0" * 32})
    ours = redis_bulk._enqueue_args(broker, message)
    assert keys == [broker.namespace], broken("calls dispatch with other keys")
    assert len(args) == len(ours), broken("passes dispatch another number of arguments")
    assert args[0] == ours[0] == "enqueue", broken("names the command elsewhere")
    # Timestamp and the maintenance draw differ per call; everything else must line up.
    assert args[2:6] == ours[2:6], broken("lays out queue, broker id and timeouts otherwise")
    assert args[7] == ours[7], broken("passes another unpack size")
    assert UUID(args[8]) and args[8] == theirs.options["redis_message_id"], broken(
        "keys messages in Redis otherwise"
    )
    sent, imitated = json.loads(args[9]), json.loads(ours[9])
    assert sent.keys() == imitated.keys(), broken("encodes messages otherwise")
    assert (sent["queue_name"], sent["actor_name"], sent["args"]) == (
        imitated["queue_name"],
        imitated["actor_name"],
        imitated["args"],
    ), broken("encodes messages otherwise")


def test_messages_sent_together_are_consumed_by_a_real_worker(broker: RedisBroker) -> None:
    seen: list[int] = []

    @dramatiq.actor(queue_name="contract", actor_name="contract_consumed", broker=broker)
    def handle(item_id: int) -> None:
        seen.append(item_id)

    broker.client.script_flush()  # as after a Redis restart: the script is loaded again
    redis_bulk.send_all(handle, [1, 2, 3])
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        broker.join("contract", timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    assert sorted(seen) == [1, 2, 3]
