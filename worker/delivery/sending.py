"""`deliver`: claim → re-check eligibility → choose variant → render → provider → record.
`batches.deliver_many` does it for a batch, with its requests in flight together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from models import Delivery, DeliveryStatus
from worker.delivery import inflight, pauses, retries
from worker.delivery.claims import (
    Batch,
    claim,
    finish,
    load,
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


def deliver(
    db: Session, delivery_id: int, *, now: datetime, runtime: Runtime
) -> DeliveryStatus | None:
    """Sends one delivery. Returns its new status, or None if it was not ours to send.

    A provider's refusal is recorded on the row (`record_refusal`): nothing is left for the
    broker to retry. Does nothing while sending is paused (the provider refused our
    credentials).
    """
    backend = runtime.settings.email_backend.value
    pause = pauses.fresh_pause_of(db, backend)
    if pause is not None and pause.probe_at > now:
        return None  # stays scheduled; the clock's relay brings it back after the pause
    decided = decide(db, delivery_id, now=now, runtime=runtime, batch=None)
    if not isinstance(decided, Ready):
        return decided
    if runtime.provider.idempotent:
        db.commit()  # End the read transaction: hold no lock while the provider answers.
    elif not request(db, decided.delivery, now):
        return None  # the clock gave the claim up meanwhile: whoever claims it next sends it
    # From here the email may have left: a crash before `finish` leaves it "maybe sent".
    got = inflight.answer(runtime.provider, decided.email)
    return record(db, decided, got, now=now, runtime=runtime, batch=None, probe=pause is not None)


@dataclass(frozen=True)
class Ready:
    """A claimed delivery found eligible and rendered: the email to send."""

    delivery: Delivery
    email: OutgoingEmail
    rendered: RenderedEmail
    segment: str | None

    @property
    def id(self) -> int:
        return int(self.delivery.id or 0)


def decide(
    db: Session, delivery_id: int, *, now: datetime, runtime: Runtime, batch: Batch | None
) -> Ready | DeliveryStatus | None:
    """Claims a delivery and decides it: the email to send, or the status it was given
    (cancelled, skipped, later, …), or None if it was not ours to claim."""
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
    return Ready(delivery, email, rendered, segment)


def record(
    db: Session,
    ready: Ready,
    got: inflight.Answer,
    *,
    now: datetime,
    runtime: Runtime,
    batch: Batch | None,
    probe: bool,
) -> DeliveryStatus:
    """Records what the provider said to one request: sent, or its refusal."""
    backend = runtime.settings.email_backend.value
    _observe(backend, got.seconds, got.refusal)
    if got.refusal is not None:
        return record_refusal(
            db,
            ready.delivery,
            got.refusal,
            now=now,
            runtime=runtime,
            batch=batch,
            to=ready.email.to,
        )
    # The provider took it (SendGrid: 202). From here to the commit of this finish is the one
    # window where a crash could leave a sent email recorded as `sending`.
    finish(
        db,
        ready.id,
        DeliveryStatus.SENT,
        batch,
        sent_at=now,
        provider_message_id=got.message_id,
        variant=ready.rendered.variant,
        template_version=ready.rendered.version,
        segment=ready.segment,
        reason=None,
    )
    if probe:  # this send was the probe after a pause: the key works again
        pauses.resume(db, backend)
        logger.info("sending through %s resumed: delivery %s was accepted", backend, ready.id)
    return DeliveryStatus.SENT


def _observe(provider: str, seconds: float, refusal: DeliveryError | None) -> None:
    """The provider request's time and outcome, for `ladder_provider_request_seconds`."""
    outcome = "sent"
    if refusal is not None:
        outcome = counters.provider_outcome(
            permanent=refusal.permanent,
            paused=refusal.pauses_sending,
            limited=refusal.retry_after_s is not None,
        )
    counters.PROVIDER_REQUESTS.labels(provider, outcome).observe(seconds)


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
            batch.paused = True  # the batch starts no more requests
        logger.error("sending through %s paused (delivery %s): %s", backend, delivery_id, exc)
        return DeliveryStatus.SCHEDULED
    if exc.retry_after_s is not None:
        reset = now + timedelta(seconds=exc.retry_after_s)
        if batch is not None:  # several in flight may meet it: the latest reset holds
            batch.limited_until = max(reset, batch.limited_until or reset)
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
