"""What the web does when a dependency hangs: every wait on a request's path has a deadline.

A hung PostgreSQL (a lock held, a server stopped, a network that drops packets) or a hung Redis
answers nothing and refuses nothing, and a sync driver call waiting on it cannot be interrupted:
its thread is left to finish on its own (`run_bounded`), the request answers in time (a spooled
200 for a webhook, a 503 with Retry-After for the rest), and the dependency is noted away for a
moment (`Dependency`) so the next requests answer at once instead of leaving threads behind too.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
from fastapi import Request
from fastapi.responses import JSONResponse

from worker.intake import async_insert
from worker.intake.groupcommit import NotCommittedInTime
from worker.queue import broker

T = TypeVar("T")

# Platforms give up on an answer after 5 s (Shopify), or never retry (WooCommerce): each
# request is answered within 2 s. Of that, waiting for the database gets this much, which
# leaves the rest for spooling and answering on a busy machine.
STORE_WITHIN_S = 1.0
# The events API answers a database that hangs with a 503 after this long: its senders retry,
# and a batch of 1,000 on a busy machine may take a second on its own.
EVENTS_WITHIN_S = 3.0
# SendGrid's events are not a store platform's: SendGrid resends anything but a 2xx for days, and
# a post carries up to a thousand events, so storing and applying them may take this long.
SENDGRID_WITHIN_S = 4.0
# A health check asks each dependency for this long.
PROBE_WITHIN_S = 1.0
# How long a dependency that failed to answer is taken as away without asking it again, and
# what a 503 tells the client to wait.
AWAY_FOR_S = 2.0
RETRY_AFTER_S = 5

# Spooling has threads of its own: the shared pool may be full of threads stuck on the database.
_spool_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ladder-spool")


@dataclass
class Dependency:
    """One process's view of a dependency: away until `away_until` (monotonic), and why."""

    name: str
    away_until: float = 0.0
    reason: str = ""

    def is_away(self) -> bool:
        return time.monotonic() < self.away_until

    def mark_away(self, reason: str) -> None:
        self.away_until, self.reason = time.monotonic() + AWAY_FOR_S, reason

    def mark_back(self) -> None:
        self.away_until, self.reason = 0.0, ""


def database(request: Request) -> Dependency:
    """The app's view of its database (each web process finds out for itself)."""
    state = request.app.state
    if not hasattr(state, "database"):
        state.database = Dependency("database")
    found: Dependency = state.database
    return found


class Unanswered(TimeoutError):
    """The call did not return in time; its thread was left to finish on its own."""


# What a request meets when the database is away, hung or not writable.
DATABASE_AWAY: tuple[type[Exception], ...] = (
    Unanswered,
    NotCommittedInTime,
    *async_insert.DATABASE_AWAY,
    *async_insert.DATABASE_ERROR,
)
# What it meets when the broker is.
BROKER_AWAY: tuple[type[Exception], ...] = (Unanswered, *broker.UNAVAILABLE)


async def run_bounded(call: Callable[[], T], *, within_s: float) -> T:
    """`call()` in a worker thread, its result if it returns within `within_s`.

    Raises Unanswered otherwise. The thread is not stopped (a driver blocked on a socket cannot
    be), so `call` must be safe to complete unseen: a commit the caller then reports as not
    made must be harmless to repeat (an insert deduplicated on its key).
    """
    try:
        with anyio.fail_after(within_s):
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except TimeoutError as exc:
        raise Unanswered(f"no answer within {within_s} s") from exc


async def in_spool_thread(call: Callable[[], T]) -> T:
    """`call()` (a spool write) on the spool's own threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_spool_threads, functools.partial(call))


def unavailable(dependency: Dependency) -> JSONResponse:
    """503 naming the dependency, with Retry-After: nothing was stored, send it again later."""
    return JSONResponse(
        {"detail": f"the {dependency.name} is unavailable; nothing was stored, retry later"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
