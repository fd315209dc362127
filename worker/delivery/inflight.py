"""Requests kept in flight: each worker process has a few threads that wait on the provider
while the batch that claimed the deliveries prepares and records the rest. At a 50 ms round
trip one request at a time costs a thread 67 ms for under a millisecond of its own work; with
`DELIVERY_IN_FLIGHT` requests open at once a process sends as fast as its CPU allows.

A batch takes a slot before it stamps a claim as requested (`claims.request_many`), and there
are twice as many slots as threads (`QUEUED_SHARE`): the next requests are stamped while the
threads still wait on answers, and a thread that is freed starts the next one at once, instead
of waiting for a batch to stamp it (a commit: a millisecond, tens on a busy disk, which left a
quarter of the threads idle; with half as many queued, a tenth). A request waits for a thread
a few tens of milliseconds at most. The price is in a crash: the requests stamped and still
queued here are given up as "outcome unknown" with those on their way, at most twice
DELIVERY_IN_FLIGHT.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from weakref import WeakKeyDictionary

from worker.providers import DeliveryError, OutgoingEmail, Provider

T = TypeVar("T")

# Slots beyond the threads, as a share of them: requests stamped and waiting for a thread.
QUEUED_SHARE = 1.0
# How long a batch with nothing on its way waits for a wave's worth of slots before it takes
# what is free: a commit's time or so, so that a slot or two freed stay idle no longer.
PATIENCE_S = 0.01


@dataclass(frozen=True)
class Answer:
    """What the provider said to one request: its message id, or why it did not take it."""

    message_id: str | None
    refusal: DeliveryError | None
    seconds: float


class InFlight:
    """A pool of `size` threads, at most `size` requests at once, and `slots` for requests
    on their way or stamped and queued for a thread."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = size + int(size * QUEUED_SHARE)
        self.free = self.slots
        self.turns = threading.Condition()
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ladder-send")

    def take(self, least: int, most: int, *, wait: bool) -> int:
        """Takes as many free slots as there are, up to `most`, if at least `least` are free;
        else none. Returns how many were taken. With `wait` (a batch with nothing else to
        do), waits for them, and after `PATIENCE_S` takes fewer, at least one.

        Taken together, not one by one: a batch's wave is stamped in one statement, and with
        many batches sharing the slots one at a time each wave would be a single request. But
        never fewer than a wave's worth left idle for long while batches wait for a whole one."""
        least = max(1, min(least, self.slots))
        with self.turns:
            if wait and not self.turns.wait_for(lambda: self.free >= least, PATIENCE_S):
                least = 1
                self.turns.wait_for(lambda: self.free >= least)
            if self.free < least:
                return 0
            taken = min(self.free, most)
            self.free -= taken
            if self.free:
                self.turns.notify()  # slots left: the next batch waiting may want them
            return taken

    def give_back(self, slots: int) -> None:
        """Frees slots and wakes one waiting batch (not all: with many waiting, waking each
        for every answer cost more than the answers). Whoever takes passes the turn on while
        slots are left; one that finds too few waits for the next answer, and with nothing
        left in flight every slot is free, enough for anyone."""
        if slots:
            with self.turns:
                self.free += slots
                self.turns.notify()

    def send(self, provider: Provider, email: OutgoingEmail) -> Future[Answer]:
        """Sends on a pool thread (queued for one if all are busy), in a slot already taken;
        the slot is freed when the request ends."""
        return self.pool.submit(self._send, provider, email)

    def _send(self, provider: Provider, email: OutgoingEmail) -> Answer:
        try:
            return answer(provider, email)
        finally:
            self.give_back(1)


class Inline:
    """One request at a time in the calling thread: for a provider with nothing to wait on
    (a file, the console) or one that must not run in parallel."""

    size = slots = 1

    def take(self, least: int, most: int, *, wait: bool) -> int:
        del least, wait  # one at a time in this thread: the one slot is always free
        return min(most, 1)

    def give_back(self, slots: int) -> None:
        del slots  # nothing was held

    def send(self, provider: Provider, email: OutgoingEmail) -> Future[Answer]:
        return done(lambda: answer(provider, email))


def answer(provider: Provider, email: OutgoingEmail) -> Answer:
    started = time.perf_counter()
    try:
        message_id = provider.send(email)
    except DeliveryError as exc:
        return Answer(None, exc, time.perf_counter() - started)
    return Answer(message_id, None, time.perf_counter() - started)


def done(work: Callable[[], T]) -> Future[T]:
    """`work` run now, as a finished future (its exception inside, like a pool's)."""
    future: Future[T] = Future()
    try:
        future.set_result(work())
    except BaseException as exc:  # handed over, as a pool would
        future.set_exception(exc)
    return future


_processes: WeakKeyDictionary[Provider, InFlight] = WeakKeyDictionary()
_lock = threading.Lock()


def for_provider(provider: Provider, size: int) -> InFlight | Inline:
    """This process's in-flight pool for `provider`: Inline unless it sends over a network
    (`concurrent`) and more than one request is allowed."""
    if size <= 1 or not getattr(provider, "concurrent", False):
        return Inline()
    with _lock:
        found = _processes.get(provider)
        if found is None or found.size != size:
            found = _processes[provider] = InFlight(size)
        return found
