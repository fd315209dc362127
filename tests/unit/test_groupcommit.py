"""Group commit: rows that arrive while a commit is under way go together in the next one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from tests.support.waiting import wait_until
from worker.groupcommit import GroupCommit


class Recorder:
    """A flush that records its batches and can be held until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self, rows: Sequence[dict[str, Any]]) -> list[int | None]:
        self.entered.set()
        self.hold.wait(timeout=10)
        self.batches.append([row["n"] for row in rows])
        return [row["n"] * 10 if row["n"] % 2 == 0 else None for row in rows]


def test_a_lone_row_is_committed_at_once_with_its_result() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    assert group.submit({"n": 2}) == 20
    assert group.submit({"n": 3}) is None  # a duplicate
    assert recorder.batches == [[2], [3]]


def test_rows_arriving_during_a_commit_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.hold.clear()
    group = GroupCommit(recorder, max_flushes=1)
    results: dict[int, int | None] = {}

    def submit(n: int) -> None:
        results[n] = group.submit({"n": n})

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert recorder.entered.wait(timeout=10)  # the first commit is under way, held
    others = [threading.Thread(target=submit, args=(n,)) for n in range(1, 6)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(group._queued) == 5, timeout_s=10, what="five queued rows")
    recorder.hold.set()
    for thread in (first, *others):
        thread.join(timeout=10)
    assert len(recorder.batches) == 2  # two commits for six rows
    assert recorder.batches[0] == [0]
    assert sorted(recorder.batches[1]) == [1, 2, 3, 4, 5]
    assert results == {0: 0, 1: None, 2: 20, 3: None, 4: 40, 5: None}


def test_a_failed_commit_is_raised_to_every_row_of_its_batch_and_the_next_one_works() -> None:
    calls = []

    def flaky(rows: Sequence[dict[str, Any]]) -> list[int | None]:
        calls.append(len(rows))
        if len(calls) == 1:
            raise ConnectionError("database away")
        return [1 for _ in rows]

    group = GroupCommit(flaky)
    with pytest.raises(ConnectionError):
        group.submit({"n": 1})
    assert group.submit({"n": 2}) == 1
