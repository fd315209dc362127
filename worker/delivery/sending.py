"""`deliver`: claim → re-check eligibility → choose variant → render → provider → record;
`deliver_many` does it for a batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from models import Delivery, DeliveryStatus
from worker.delivery import pauses, retries
from worker.delivery.claims import (
    Batch,
    claim,
    claim_many,
    end,
    finish,
    load,
    postpone,
    request,
)
from worker.delivery.composing import compose
from worker.delivery.eligibility import Verdict, eligibility
from worker.metrics import counters
from worker.processing.preferences import suppress
from worker.providers import DeliveryError, OutgoingEmail
from worker.rendering.renderer import RenderedEmail, RenderError
from worker.rendering.variables import build_context
from worker.runtime import Runtime

logger = logging.getLogger(__name__)

# With a provider that is not idempotent, `deliver_many` starts no new delivery after this
# long, well inside `deliver_batch`'s time limit (600 s): a limit hit during a request would
# strand the email `sending`, and the clock could only mark it failed, outcome unknown.
BATCH_DEADLINE_S = 200.0


def deliver(
    db: Session,
    delivery_id: int,
    *,
    now: datetime,
    runtime: Runtime,
    batch: Batch | None = None,
) -> DeliveryStatus | None:
    """Sends one delivery. Returns its new status, or None if it was not ours to send.

    A provider's refusal is recorded on the row (`record_refusal`): nothing is left for the
    broker to retry. Does nothing while sending is paused (the provider refused our
    credentials).
    """
    backend = runtime.settings.email_backend.value
    pause = batch.pause_of(db, backend) if batch is not None else pauses.fresh_pause_of(db, backend)
    if pause is not None and pause.probe_at > now:
        return None  # stays scheduled; the clock's relay brings it back after the pause
    delivery = claim(db, delivery_id, now, batch)
    if delivery is None:
        return None  # another worker got there first, or it is no longer due
    try:
        outcome = _prepare(db, delivery, now=now, runtime=runtime, batch=batch)
    except BaseException:  # also Dramatiq's TimeLimitExceeded, raised in this thread
        # Nothing was sent: give the delivery back rather than leave it `sending` until the
        # claim times out (and, with a non-idempotent provider, is given up as unknown).
        db.rollback()
        finish(db, delivery_id, DeliveryStatus.SCHEDULED, batch, reason="released after an error")
        raise
    if isinstance(outcome, Verdict):
        later = {} if outcome.send_at is None else {"send_at": outcome.send_at, "enqueued_at": None}
        finish(db, delivery_id, outcome.status, batch, reason=outcome.reason, **later)
        return outcome.status
    email, rendered, segment = outcome
    if runtime.provider.idempotent:
        db.commit()  # End the read transaction: hold no lock while the provider answers.
    elif not request(db, delivery, now):
        return None  # the clock gave the claim up meanwhile: whoever claims it next sends it
    # From here the email may have left: a crash before `finish` leaves it "maybe sent".
    started = time.perf_counter()
    try:
        message_id = runtime.provider.send(email)
    except DeliveryError as exc:
        _observe(backend, started, exc)
        return record_refusal(db, delivery, exc, now=now, runtime=runtime, batch=batch, to=email.to)
    _observe(backend, started, None)
    # The provider took it (SendGrid: 202). From here to the commit below is the one window
    # where a crash could leave a sent email recorded as `sending`: nothing else happens in it.
    finish(
        db,
        delivery_id,
        DeliveryStatus.SENT,
        batch,
        sent_at=now,
        provider_message_id=message_id,
        variant=rendered.variant,
        template_version=rendered.version,
        segment=segment,
        reason=None,
    )
    if pause is not None:  # this send was the probe after a pause: the key works again
        pauses.resume(db, backend)
        if batch is not None:
            batch.forget_pause()
        logger.info("sending through %s resumed: delivery %s was accepted", backend, delivery_id)
    return DeliveryStatus.SENT


def _observe(provider: str, started: float, refusal: DeliveryError | None) -> None:
    """The provider request's time and outcome, for `ladder_provider_request_seconds`."""
    outcome = "sent"
    if refusal is not None:
        outcome = counters.provider_outcome(
            permanent=refusal.permanent,
            paused=refusal.pauses_sending,
            limited=refusal.retry_after_s is not None,
        )
    counters.PROVIDER_REQUESTS.labels(provider, outcome).observe(time.perf_counter() - started)


def record_refusal(
    db: Session,
    delivery: Delivery,
    exc: DeliveryError,
    *,
    now: datetime,
    runtime: Runtime,
    batch: Batch | None = None,
    to: str | None = None,
) -> DeliveryStatus:
    """Records why the provider did not take the email, on the claimed row. Permanent: `failed`
    with its message (and for a bounce, `to` on the suppression list). Refused credentials:
    sending pauses for every worker and the delivery waits, `scheduled`. Rate-limited:
    `scheduled` again, due when the limit resets (not a failure; a batch learns it through
    `Batch.limited_until`). Otherwise a failure is counted: `scheduled`, due after the back-off
    (`retries`), or `failed` after the last one allowed. A delivery put back is left for the
    clock's relay (`enqueued_at` NULL): its retry is a row, so a worker that dies holding a
    message loses no retry.
    """
    delivery_id = int(delivery.id or 0)
    if exc.permanent:
        finish(db, delivery_id, DeliveryStatus.FAILED, batch, reason=str(exc))
        if exc.bounce and to:  # no such address: no mail of any class goes there again
            suppress(db, to, f"bounce: {exc}", now=now)
        return DeliveryStatus.FAILED
    if exc.pauses_sending:
        backend = runtime.settings.email_backend.value
        finish(db, delivery_id, DeliveryStatus.SCHEDULED, batch, reason=f"sending paused: {exc}")
        pauses.pause(
            db, backend, str(exc), now=now, probe_after_s=runtime.settings.sending_pause_probe_s
        )
        if batch is not None:
            batch.forget_pause()
        logger.error("sending through %s paused (delivery %s): %s", backend, delivery_id, exc)
        return DeliveryStatus.SCHEDULED
    if exc.retry_after_s is not None:
        reset = now + timedelta(seconds=exc.retry_after_s)
        if batch is not None:
            batch.limited_until = reset
        finish(
            db,
            delivery_id,
            DeliveryStatus.SCHEDULED,
            batch,
            reason=f"rate-limited: {exc}",
            send_at=reset,
            enqueued_at=None,
        )
        return DeliveryStatus.SCHEDULED
    failures = delivery.failures + 1
    again = retries.retry_at(failures, now=now, settings=runtime.settings)
    if again is None:
        reason = f"gave up after {failures} transient errors: {exc}"
        finish(db, delivery_id, DeliveryStatus.FAILED, batch, reason=reason, failures=failures)
        return DeliveryStatus.FAILED
    finish(
        db,
        delivery_id,
        DeliveryStatus.SCHEDULED,
        batch,
        reason=f"will retry: {exc}",
        failures=failures,
        send_at=again,
        enqueued_at=None,
    )
    return DeliveryStatus.SCHEDULED


def _prepare(
    db: Session, delivery: Delivery, *, now: datetime, runtime: Runtime, batch: Batch | None
) -> Verdict | tuple[OutgoingEmail, RenderedEmail, str | None]:
    """Loads the rows, re-checks eligibility and renders: a Verdict, or the email to send
    with what was rendered (variant, version) and the customer's segment now."""
    claimed = load(db, delivery, batch)
    context = build_context(
        db,
        event=claimed.cause,
        customer=claimed.customer,
        order=claimed.order,
        settings=runtime.settings,
        now=now,
        lines=batch.lines if batch is not None else None,
    )
    verdict = eligibility(db, claimed, context, now=now, runtime=runtime, batch=batch)
    if verdict is not None:
        return verdict
    try:
        email, rendered = compose(claimed, context, now=now, runtime=runtime)
    except RenderError as exc:
        return Verdict(DeliveryStatus.FAILED, str(exc))
    return email, rendered, claimed.customer.segment


@dataclass
class BatchOutcome:
    """What `deliver_many` leaves to its caller."""

    later: list[int] = field(default_factory=list)  # not attempted: to send again as a batch
    # put back `scheduled` for later (deferred, a transient error, a rate limit, a pause):
    # each row says when it is due again, and the clock's relay sends it then
    waiting: list[int] = field(default_factory=list)


def deliver_many(
    db: Session, delivery_ids: Sequence[int], *, now: datetime, runtime: Runtime
) -> BatchOutcome:
    """Sends each delivery as `deliver` does, one after another in this session.

    With an idempotent provider the batch is claimed and loaded up front (`claim_many`): a
    crash then leaves the unsent ones `sending`, and the clock sends them again, harmlessly.
    Otherwise each is claimed just before it is sent, so a crash strands at most one, and
    that one is sent again by the clock unless it died with its request on the way.
    The sending pause is read once a second (`claims.PAUSE_FRESH_S`), not once per delivery.

    Without an idempotent provider no delivery starts after `BATCH_DEADLINE_S`: those left,
    untouched and `scheduled`, come back in `later`, for the caller to send as a new batch.
    A rate limit stops the batch: the refused delivery and those not yet tried wait
    `scheduled`, due when the limit resets (`claims.postpone`), for the clock's relay.

    Returns in `waiting` the ids put back `scheduled` for later (deferred, a transient error,
    the rate limit, a pause): each row carries when it is due again. Any other error
    propagates (the delivery it met, and those claimed after it, are released; those before
    it stay sent).
    """
    outcome = BatchOutcome()
    started = time.monotonic()
    batch = Batch()
    rest: list[int] = []  # not tried after a rate limit
    try:
        if runtime.provider.idempotent:  # inside: if loading fails, `end` releases
            claim_many(db, delivery_ids, now, batch)
        for position, delivery_id in enumerate(delivery_ids):
            if not runtime.provider.idempotent and _past(started, BATCH_DEADLINE_S):
                outcome.later = list(delivery_ids[position:])
                break
            # Claimed one at a time: each claim and request stamped with its own time, which
            # is what the clock measures a stale claim by, not with the batch's start.
            at = now if batch.claimed else now + timedelta(seconds=time.monotonic() - started)
            status = deliver(db, delivery_id, now=at, runtime=runtime, batch=batch)
            if status == DeliveryStatus.SCHEDULED:
                outcome.waiting.append(delivery_id)
            if batch.limited_until is not None:  # the rest would meet the limit too
                rest = list(delivery_ids[position + 1 :])
                outcome.waiting.extend(rest)
                break
    finally:
        end(db, batch)
    if batch.limited_until is not None and rest:
        postpone(db, rest, until=batch.limited_until)
    return outcome


def _past(started: float, limit_s: float) -> bool:
    return time.monotonic() - started > limit_s
