"""Group commit: webhook deliveries arriving together are inserted and committed together.

A commit costs a round trip and a WAL flush, and a hop to a worker thread costs about as much
CPU as the rest of a request: paying both once per delivery is what limits the web process.
Requests queue their row on the event loop and await it; one flush at a time takes every row
queued meanwhile to a worker thread, inserts them in one statement, commits once and resolves
each request once the new ids are handed to the broker, which happens beside the next flush,
not in its way. A lone request is committed at once. On PostgreSQL the flush runs on the event
loop itself (`worker.intake.async_insert`): no thread hop, one round trip.

A request waits for its commit only until its deadline: a database that hangs (a lock held, a
server stopped) holds the flush, not the answer. Past it, the request gives up (its row leaves
the queue unless a flush already took it) and its caller spools the delivery; a row committed
late as well is a repeat the inbox's dedupe key absorbs. The hand-over is awaited only within
the same deadline: the row is committed by then, and a message not sent is the relay's.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

Flush = Callable[[Sequence[dict[str, Any]]], list[int | None]]
AsyncFlush = Callable[[Sequence[dict[str, Any]]], Awaitable[list[int | None]]]
# What a request's future holds once its row is committed: its new id (None: a duplicate) and
# the batch's hand-over, still running, when there were new ids.
Committed = tuple[int | None, "asyncio.Future[None] | None"]
Entry = tuple[dict[str, Any], "asyncio.Future[Committed]"]


class NotCommittedInTime(TimeoutError):
    """The row was not committed by the request's deadline: the database is hung or too slow."""


@dataclass
class GroupCommit:
    """`flush(rows)` stores the rows in one transaction and returns, per row, its new id or None
    for a duplicate; `hand_over(ids)` enqueues the new ones; both run in a worker thread. An
    `async_flush`, when given, does the flush's job on the event loop instead. Belongs to one
    event loop."""

    flush: Flush
    hand_over: Callable[[list[int]], None]
    async_flush: AsyncFlush | None = None
    close: Callable[[], Awaitable[None]] | None = None  # what the flush holds open
    # What the flush raises when the database is away: a batch failing so is not retried
    # row by row (any other error is, so one bad row fails alone).
    unavailable: tuple[type[Exception], ...] = ()
    _queued: list[Entry] = field(default_factory=list)
    _flusher: asyncio.Task[None] | None = None
    _handing_over: set[asyncio.Future[None]] = field(default_factory=set)

    async def submit(self, row: dict[str, Any], *, within_s: float | None = None) -> int | None:
        """Returns once `row` is committed: its new id, or None if it was a duplicate; and once
        the new id is handed over, or `within_s` has passed since the call, whichever is first.

        Raises NotCommittedInTime when `within_s` passes before the commit (the row may still
        be committed later). Raises what the flush raised: for every row of the batch when the
        database is away (`unavailable`), else for this row alone, stored again on its own.
        """
        loop = asyncio.get_running_loop()
        deadline = None if within_s is None else loop.time() + within_s
        future: asyncio.Future[Committed] = loop.create_future()
        self._queued.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())
        try:
            # On timeout `wait_for` cancels the future: a flush not yet begun skips the row.
            row_id, handing = await asyncio.wait_for(future, _left(loop, deadline))
        except TimeoutError as exc:
            raise NotCommittedInTime(f"not committed within {within_s} s") from exc
        if handing is not None:
            # Committed: whether the hand-over is slow or failed (it logs that and leaves the
            # rows to the relay), the answer is the id.
            await asyncio.wait({handing}, timeout=_left(loop, deadline))
        return row_id

    async def _drain(self) -> None:
        batch: list[Entry] = []
        try:
            while self._queued:  # rows that queued during a flush go in the next one
                # Without the rows whose requests gave up waiting: they are being spooled.
                batch = [entry for entry in self._queued if not entry[1].done()]
                self._queued = []
                if batch:
                    await self._run(batch)
        except BaseException as exc:  # no request is left waiting on a flusher that stopped
            waiting, self._queued = batch + self._queued, []
            _fail(waiting, exc if isinstance(exc, Exception) else None)
            raise

    async def _run(self, batch: list[Entry]) -> None:
        rows = [row for row, _ in batch]
        try:
            results: list[int | Exception | None] = list(await self._flush(rows))
        except Exception as exc:  # handed to each waiting request, which decides (spool)
            if len(batch) == 1 or isinstance(exc, self.unavailable):
                _fail(batch, exc)
                return
            # One row the database refuses (bad data) fails the whole statement: store the
            # rows one by one, so only that row's request fails.
            results = [await self._flush_one(row) for row in rows]
        new = [row_id for row_id in results if isinstance(row_id, int)]
        if not new:
            _resolve(batch, results, None)
            return
        # Each request learns of its commit at once and waits for the hand-over within its own
        # deadline; the next flush does not wait for it: it starts as soon as this one is done.
        handing = asyncio.ensure_future(run_in_threadpool(self.hand_over, new))
        self._handing_over.add(handing)  # a reference, so the task is not collected early
        handing.add_done_callback(self._handing_over.discard)
        handing.add_done_callback(_retrieve)
        _resolve(batch, results, handing)

    async def _flush(self, rows: list[dict[str, Any]]) -> list[int | None]:
        if self.async_flush is not None:
            return await self.async_flush(rows)
        return await run_in_threadpool(self.flush, rows)

    async def _flush_one(self, row: dict[str, Any]) -> int | Exception | None:
        try:
            [result] = await self._flush([row])
        except Exception as exc:
            return exc
        return result


def _left(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - loop.time())


def _retrieve(handing: asyncio.Future[None]) -> None:
    """Takes the hand-over's outcome so a failure no request waited for is not reported as
    never retrieved: `hand_over` leaves the rows to the relay itself."""
    if not handing.cancelled():
        handing.exception()


def _resolve(
    batch: list[Entry],
    results: list[int | Exception | None],
    handing: asyncio.Future[None] | None,
) -> None:
    """Answers each request: its id, or the error its row alone met. The rows are committed
    whatever the hand-over does: a message not sent is the relay's."""
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():  # the request gave up waiting
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result((result, handing if result is not None else None))


def _fail(batch: list[Entry], exc: Exception | None) -> None:
    """Raises `exc` to each request still waiting (one may have been cancelled meanwhile), or
    cancels it when there is no exception to give."""
    for _, future in batch:
        if not future.done():
            if exc is None:
                future.cancel()
            else:
                future.set_exception(exc)


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, GroupCommit]] = (
    weakref.WeakKeyDictionary()
)


async def close_all() -> None:
    """Closes what the groups of this event loop hold open: for the web app's shutdown, so a
    process that starts many apps (tests) leaves no connection behind."""
    by_url = _groups.pop(asyncio.get_running_loop(), {})
    for group in by_url.values():
        if group.close is not None:
            await group.close()


def group_for(database_url: str, build: Callable[[str], GroupCommit]) -> GroupCommit:
    """The group of this event loop for this database, built by `build(database_url)` on
    first use."""
    by_url = _groups.setdefault(asyncio.get_running_loop(), {})
    if database_url not in by_url:
        by_url[database_url] = build(database_url)
    return by_url[database_url]
