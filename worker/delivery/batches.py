"""`deliver_many`: a batch of deliveries sent as `sending.deliver` sends one, its statements
shared and its requests in flight together (`inflight`).

The batch is claimed and loaded in one go (`claims.claim_many`). Its deliveries are then
decided a wave at a time (eligibility, render) while the waves before are on their way, so
the first request leaves after a few renders, not after the whole batch's. A wave's claims
are stamped as requested in one statement (`claims.request_many`) just before it leaves: a
crash strands only the requests stamped (on their way, or queued for a thread: `inflight`),
which the clock gives up as "outcome unknown" (a provider event settles them); a claim never
stamped is sent again by the clock, harmlessly.
The answers are recorded as they come. With an idempotent provider they are written together
at the end (`claims.end`): a crash before costs only harmless second sends. With one that is
not, a crash would leave each answered but unwritten claim "outcome unknown": the answers are
written with the next wave's stamps, in its transaction, or within `WRITE_WITHIN_S` when no
wave follows (`claims.write`).
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from models import DeliveryStatus
from worker.delivery import inflight, pauses
from worker.delivery.claims import Batch, claim_many, end, postpone, request_many, write
from worker.delivery.sending import Ready, decide, record
from worker.runtime import Runtime

# With a provider that is not idempotent, a batch starts no new request after this long, well
# inside `deliver_batch`'s time limit (600 s): a limit hit during a request would strand the
# email `sending`, and the clock could only mark it failed, outcome unknown.
BATCH_DEADLINE_S = 200.0
# With a provider that is not idempotent, an answer waits at most this long to be written.
WRITE_WITHIN_S = 0.2


@dataclass
class BatchOutcome:
    """What `deliver_many` leaves to its caller."""

    later: list[int] = field(default_factory=list)  # not attempted: to send again as a batch
    # put back `scheduled` for later (deferred, a transient error, a rate limit): each row
    # says when it is due again, and the clock's relay sends it then
    waiting: list[int] = field(default_factory=list)


def deliver_many(
    db: Session, delivery_ids: Sequence[int], *, now: datetime, runtime: Runtime
) -> BatchOutcome:
    """Sends each delivery as `deliver` does, up to DELIVERY_IN_FLIGHT requests a process
    on their way at once. The sending pause is read once a second (`pauses.fresh_pause_of`);
    after a pause the first request goes alone, as the probe.

    Without an idempotent provider no request starts after `BATCH_DEADLINE_S`: those left are
    given back `scheduled` and come back in `later`, for the caller to send as a new batch. A
    rate limit stops the batch: the deliveries not yet sent wait `scheduled`, due when the limit
    resets (`claims.postpone`), for the clock's relay; a pause stops it likewise.

    Returns in `waiting` the ids put back `scheduled` for later (deferred, a transient error,
    the rate limit): each row carries when it is due again. Any other error propagates once
    the requests on their way are recorded (the delivery it met, and those not sent, are
    given back; those before it stay sent).
    """
    outcome = BatchOutcome()
    started = time.monotonic()
    pause = pauses.fresh_pause_of(db, runtime.settings.email_backend.value)
    if pause is not None and pause.probe_at > now:
        return outcome  # all stay scheduled; the clock's relay brings them back after it
    batch = Batch()
    try:
        claim_many(db, delivery_ids, now, batch)
        decisions = _Decisions(db, delivery_ids, now=now, runtime=runtime, batch=batch)
        flight = _Flight(db, runtime, batch, now=now, probing=pause is not None, started=started)
        unsent = _send_all(flight, decisions, outcome)
    finally:
        end(db, batch)
    if batch.limited_until is not None:
        outcome.waiting.extend(unsent)
        postpone(db, unsent, until=batch.limited_until)
    elif not batch.paused:
        outcome.later.extend(unsent)  # past the deadline: to send again as a new batch
    return outcome


class _Decisions:
    """The batch's claimed deliveries, decided as the flight asks for them: the ready ones
    handed over, the others' statuses recorded in the batch."""

    def __init__(
        self, db: Session, ids: Sequence[int], *, now: datetime, runtime: Runtime, batch: Batch
    ) -> None:
        self.db, self.now, self.runtime, self.batch = db, now, runtime, batch
        self.undecided = deque(i for i in dict.fromkeys(ids) if i in batch.unsent)
        self.waiting: list[int] = []  # decided `scheduled` for later
        self.failure: Exception | None = None

    @property
    def done(self) -> bool:
        return not self.undecided or self.failure is not None

    def take(self, count: int) -> Iterator[Ready]:
        """Decides deliveries until `count` are ready or none is left. An unexpected error
        stops the deciding (those decided still go; `failure` is raised after)."""
        while count > 0 and not self.done:
            delivery_id = self.undecided.popleft()
            try:
                decided = decide(self.db, delivery_id, now=self.now, runtime=self.runtime,
                                 batch=self.batch)  # fmt: skip
            except Exception as exc:  # send those decided, then let the broker retry
                self.failure = exc
                return
            if isinstance(decided, Ready):
                self.batch.unsent[delivery_id] = decided.delivery  # given back if never sent
                count -= 1
                yield decided
            elif decided == DeliveryStatus.SCHEDULED:
                self.waiting.append(delivery_id)


def _send_all(flight: _Flight, decisions: _Decisions, outcome: BatchOutcome) -> list[int]:
    """Decides and sends the batch, a wave at a time, and records each answer as it comes.
    Returns the ids not sent (a rate limit, a pause, the deadline): still in `batch.unsent`
    (those ready) or never decided, for `end` to give back."""
    pending: deque[Ready] = deque()
    try:
        while flight.running or ((pending or not decisions.done) and not flight.stopped()):
            launched = 0
            if not flight.stopped() and flight.has_room():
                pending.extend(decisions.take(flight.wave() - len(pending)))
                if pending:
                    launched = flight.launch(pending)
                else:
                    flight.db.commit()  # hold no read open while the answers come
            # While waves leave and there is room, decide the next; else wait for an answer.
            for item, status in flight.collect(block=not launched):
                if status == DeliveryStatus.SCHEDULED:
                    outcome.waiting.append(item.id)
            if flight.failure is not None:
                break  # nothing more leaves; those not sent are given back by `end`
        flight.drain()
    except BaseException:
        flight.abandon()
        raise
    outcome.waiting[:0] = decisions.waiting
    if flight.failure is not None:
        raise flight.failure
    if decisions.failure is not None:
        raise decisions.failure
    return [item.id for item in pending] + list(decisions.undecided)


class _Flight:
    """One batch's requests on their way, and what it records as they come back."""

    def __init__(
        self,
        db: Session,
        runtime: Runtime,
        batch: Batch,
        *,
        now: datetime,
        probing: bool,
        started: float,
    ) -> None:
        self.db, self.runtime, self.batch, self.now = db, runtime, batch, now
        self.provider = runtime.provider
        self.idempotent = bool(self.provider.idempotent)
        self.lanes = inflight.for_provider(self.provider, runtime.settings.delivery_in_flight)
        self.probing = probing  # after a pause: one request alone until one is accepted
        self.started = started
        self.running: dict[Future[inflight.Answer], Ready] = {}
        # Each request's future as it finishes (its done-callback puts it here): a wait for
        # the next answer is one get, not a look at every request on its way.
        self.finished: queue.SimpleQueue[Future[inflight.Answer]] = queue.SimpleQueue()
        self.failure: BaseException | None = None
        self.unwritten_since: float | None = None  # the oldest answer held unwritten

    def width(self) -> int:
        return 1 if self.probing else self.lanes.slots

    def wave(self) -> int:
        """The requests worth a wave: each wave's claims are stamped in one statement and
        commit, so not one request at a time but a quarter of the width."""
        return max(1, self.width() // 4)

    def has_room(self) -> bool:
        """Room in this batch's width for a wave: none on its way, or a wave's worth free."""
        return not self.running or self.width() - len(self.running) >= self.wave()

    def stopped(self) -> bool:
        """Whether the batch starts no more requests: a rate limit or a pause met (here or,
        read once a second, by another worker), or, with a provider that is not idempotent,
        past its deadline."""
        if self.batch.limited_until is not None or self.batch.paused:
            return True
        if not self.probing:
            found = pauses.fresh_pause_of(self.db, self.runtime.settings.email_backend.value)
            if found is not None and found.probe_at > self.now:
                self.batch.paused = True
                return True
        return not self.idempotent and time.monotonic() - self.started > BATCH_DEADLINE_S

    def launch(self, pending: deque[Ready]) -> int:
        """Sends as many of `pending` as there are free slots, at least a wave's worth (or
        all, if fewer; waiting for them if none of this batch's requests is on its way), each
        claim stamped first. Those left wait for the next wave. Returns how many left."""
        most = min(self.width() - len(self.running), len(pending))
        least = min(self.wave(), len(pending))
        if not self.running:
            self._write(within=0.0)  # what came back is written before waiting for slots
        taken = self.lanes.take(least, most, wait=not self.running)
        wave = [pending.popleft() for _ in range(taken)]
        ours = self._stamped(wave)
        self.lanes.give_back(taken - len(ours))
        for item in ours:
            self.batch.unsent.pop(item.id, None)
            future = self.lanes.send(self.provider, item.email)
            self.running[future] = item
            future.add_done_callback(self.finished.put)
        return len(ours)

    def _stamped(self, wave: Sequence[Ready]) -> list[Ready]:
        """Those of `wave` whose requests may leave: for a provider that is not idempotent,
        each claim stamped as requested. A claim the clock gave up meanwhile is no longer
        ours: whoever claims it next sends it, and this batch forgets it."""
        if self.idempotent or not wave:
            self.db.commit()  # End the read transaction: hold no lock while they are out.
            return list(wave)
        # The answers so far written in the stamps' transaction: one commit for both.
        write(self.db, self.batch, also=[item.id for item in wave])
        self.unwritten_since = None
        ours = request_many(self.db, [item.delivery for item in wave], self.now)
        for item in wave:
            if item.id not in ours:
                self.batch.unsent.pop(item.id, None)
                self.batch.ids = self.batch.ids - {item.id}
        return [item for item in wave if item.id in ours]

    def collect(self, *, block: bool = True) -> list[tuple[Ready, DeliveryStatus]]:
        """Records the answers that came back, if `block` waiting for at least one. (With
        room left but no free slot, other batches hold them all: the next answer frees one
        of ours.)"""
        if not self.running:
            return []
        timeout: float | None = None
        if self.unwritten_since is not None:  # wake to write them in time
            timeout = max(0.0, self.unwritten_since + WRITE_WITHIN_S - time.monotonic())
        finished = []
        try:
            if block:
                finished.append(self.finished.get(timeout=timeout))
            while True:
                finished.append(self.finished.get_nowait())
        except queue.Empty:
            pass
        recorded = []
        for future in finished:
            item = self.running.pop(future)
            try:
                got = future.result()
            except BaseException as exc:  # an unexpected error: record the others first
                self.failure = self.failure or exc
                continue
            status = record(self.db, item, got, now=self.now, runtime=self.runtime,
                            batch=self.batch, probe=self.probing)  # fmt: skip
            if self.probing and status == DeliveryStatus.SENT:
                self.probing = False  # the key works again: the others may go together
            recorded.append((item, status))
        self._write(within=WRITE_WITHIN_S)
        return recorded

    def _write(self, *, within: float) -> None:
        """For a provider that is not idempotent, writes the answers held (`claims.write`)
        once the oldest has waited `within` seconds."""
        if self.idempotent or not self.batch.finishing:
            return
        now = time.monotonic()
        if self.unwritten_since is None:
            self.unwritten_since = now
        if now - self.unwritten_since >= within:
            write(self.db, self.batch)
            self.db.commit()
            self.unwritten_since = None

    def drain(self) -> None:
        """Records the requests still on their way (after an unexpected error)."""
        while self.running:
            self.collect()

    def abandon(self) -> None:
        """Those still on their way when the batch's thread is stopped (a time limit): their
        rows stay `sending`, stamped, and the clock settles them."""
        for future in self.running:
            future.cancel()
