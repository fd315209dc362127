"""Group commit: rows that arrive while a commit is under way go together in the next one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from worker.intake.groupcommit import GroupCommit


class Recorder:
    """A flush that records its batches and can be held until released, and a hand-over."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.handed: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def flush(self, rows: Sequence[dict[str, Any]]) -> list[int | None]:
        self.entered.set()
        assert self.hold.wait(timeout=10)
        self.batches.append([row["n"] for row in rows])
        return [row["n"] * 10 if row["n"] % 2 == 0 else None for row in rows]

    def hand_over(self, ids: list[int]) -> None:
        self.handed.extend(ids)


def test_a_lone_row_is_committed_and_handed_over_before_the_answer() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.flush, recorder.hand_over)

    async def scenario() -> tuple[int | None, int | None]:
        return await group.submit({"n": 2}), await group.submit({"n": 3})

    assert asyncio.run(scenario()) == (20, None)  # 3 is a duplicate
    assert recorder.batches == [[2], [3]]
    assert recorder.handed == [20]


def test_rows_arriving_during_a_commit_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.hold.clear()
    group = GroupCommit(recorder.flush, recorder.hand_over)

    async def scenario() -> list[int | None]:
        first = asyncio.ensure_future(group.submit({"n": 0}))
        # The first commit is under way in a worker thread, held.
        assert await asyncio.to_thread(recorder.entered.wait, 10)
        others = [asyncio.ensure_future(group.submit({"n": n})) for n in range(1, 6)]
        await asyncio.sleep(0)  # let them queue
        recorder.hold.set()
        return list(await asyncio.gather(first, *others))

    assert asyncio.run(scenario()) == [0, None, 20, None, 40, None]
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]  # two commits for six rows
    assert sorted(recorder.handed) == [0, 20, 40]


def test_a_failed_commit_is_raised_to_every_row_of_its_batch_and_the_next_one_works() -> None:
    calls: list[int] = []

    def flaky(rows: Sequence[dict[str, Any]]) -> list[int | None]:
        calls.append(len(rows))
        if len(calls) == 1:
            raise ConnectionError("database away")
        return [1 for _ in rows]

    group = GroupCommit(flaky, Recorder().hand_over)

    async def scenario() -> int | None:
        with pytest.raises(ConnectionError):
            await group.submit({"n": 1})
        return await group.submit({"n": 2})

    assert asyncio.run(scenario()) == 1


def test_an_async_flush_replaces_the_threaded_one_and_groups_rows_the_same_way() -> None:
    recorder = Recorder()
    release = asyncio.Event()

    async def async_flush(rows: Sequence[dict[str, Any]]) -> list[int | None]:
        recorder.batches.append([row["n"] for row in rows])
        if len(recorder.batches) == 1:
            await release.wait()  # the first commit under way: the others queue meanwhile
        return [row["n"] * 10 for row in rows]

    def never(_rows: Sequence[dict[str, Any]]) -> list[int | None]:
        raise AssertionError("the threaded flush is not used when an async one is given")

    group = GroupCommit(never, recorder.hand_over, async_flush)

    async def scenario() -> list[int | None]:
        first = asyncio.ensure_future(group.submit({"n": 1}))
        await asyncio.sleep(0)
        others = [asyncio.ensure_future(group.submit({"n": n})) for n in (2, 3)]
        await asyncio.sleep(0)
        release.set()
        return list(await asyncio.gather(first, *others))

    assert asyncio.run(scenario()) == [10, 20, 30]
    assert recorder.batches == [[1], [2, 3]]
    assert sorted(recorder.handed) == [10, 20, 30]


def test_a_request_cancelled_while_waiting_leaves_the_others_of_its_batch_answered() -> None:
    release: asyncio.Queue[None] = asyncio.Queue()

    async def away(_rows: Sequence[dict[str, Any]]) -> list[int | None]:
        await release.get()
        raise ConnectionError("database away")

    group = GroupCommit(
        Recorder().flush, Recorder().hand_over, away, unavailable=(ConnectionError,)
    )

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(group.submit({"n": 0}))
        await asyncio.sleep(0)  # the first flush is under way; the next two queue behind it
        cancelled = asyncio.ensure_future(group.submit({"n": 1}))
        other = asyncio.ensure_future(group.submit({"n": 2}))
        release.put_nowait(None)
        with pytest.raises(ConnectionError):
            await first
        cancelled.cancel()  # the platform hung up while its row was in the second flush
        release.put_nowait(None)
        with pytest.raises(ConnectionError):
            await other
        return [type(task.exception()).__name__ for task in (first, other)]

    assert asyncio.run(scenario()) == ["ConnectionError", "ConnectionError"]


def test_a_batch_failing_on_one_row_is_stored_row_by_row_and_only_that_row_fails() -> None:
    batches: list[list[int]] = []

    def picky(rows: Sequence[dict[str, Any]]) -> list[int | None]:
        batches.append([row["n"] for row in rows])
        if any(row["n"] == 2 for row in rows):
            raise ValueError("a value the database refuses")
        return [row["n"] * 10 for row in rows]

    def away(_rows: Sequence[dict[str, Any]]) -> list[int | None]:
        batches.append([])
        raise ConnectionError("database away")

    recorder = Recorder()

    async def scenario(group: GroupCommit) -> list[int | BaseException | None]:
        answers = [group.submit({"n": n}) for n in (1, 2, 3)]
        return list(await asyncio.gather(*answers, return_exceptions=True))

    first, bad, third = asyncio.run(scenario(GroupCommit(picky, recorder.hand_over)))
    assert (first, type(bad), third) == (10, ValueError, 30)
    assert batches == [[1, 2, 3], [1], [2], [3]]
    assert sorted(recorder.handed) == [10, 30]

    # The database away is not retried row by row: the whole batch goes to the spool at once.
    batches.clear()
    group = GroupCommit(away, recorder.hand_over, unavailable=(ConnectionError,))
    assert [type(answer) for answer in asyncio.run(scenario(group))] == [ConnectionError] * 3
    assert batches == [[]]
