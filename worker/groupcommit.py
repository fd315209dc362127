"""Group commit: webhook deliveries arriving together are inserted and committed together.

A commit costs a round trip and a WAL flush; at a thousand deliveries a second, paying it once
per delivery is what limits the web process. Each request thread queues its row; a thread that
finds fewer than `max_flushes` commits under way leads: it takes every queued row, inserts them
in one statement and commits once, while rows arriving meanwhile queue for the next batch. No
thread of its own, nothing to start or stop, and a lone request is committed at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


@dataclass
class _Pending:
    row: dict[str, Any]
    done: bool = False
    result: int | None = None
    error: BaseException | None = None


@dataclass
class GroupCommit:
    """`flush(rows)` stores the rows in one transaction and returns, per row, its new id or None
    for a duplicate; at most `max_flushes` run at once."""

    flush: Callable[[Sequence[dict[str, Any]]], list[int | None]]
    # Commits under way at once. Measured with 16 threads on PostgreSQL: one at a time gathers
    # batches three times larger and spends half the CPU per row of four at a time.
    max_flushes: int = 1
    _queued: list[_Pending] = field(default_factory=list)
    _flushing: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def submit(self, row: dict[str, Any]) -> int | None:
        """Returns once `row` is committed: its new id, or None if it was a duplicate.

        Raises what the flush raised (the database away) for every row of that batch.
        """
        pending = _Pending(row)
        with self._changed:
            self._queued.append(pending)
            while not pending.done:
                if not self._queued or self._flushing >= self.max_flushes:
                    self._changed.wait()  # our row is in a batch under way, or waits for one
                    continue
                # Lead: take every row queued meanwhile, commit them outside the lock.
                self._flushing += 1
                batch, self._queued = self._queued, []
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    self._changed.acquire()
                    self._flushing -= 1
                    self._changed.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _run(self, batch: list[_Pending]) -> None:
        try:
            results = self.flush([item.row for item in batch])
        except BaseException as exc:  # handed to each waiting request, which decides (spool)
            for item in batch:
                item.error, item.done = exc, True
            return
        for item, result in zip(batch, results, strict=True):
            item.result, item.done = result, True


@lru_cache(maxsize=16)
def group_for(database_url: str) -> GroupCommit:
    """One group per database per process."""
    from worker import inbox

    return GroupCommit(lambda rows: inbox.store_rows(database_url, rows))
