"""`deliver`: claim → re-check eligibility → choose variant → render → provider → record."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, select, true, update
from sqlmodel import Session

from models import (
    Customer,
    Delivery,
    DeliveryStatus,
    Event,
    Order,
    Preference,
    SendingPause,
    Suppression,
)
from models.types import UTCDateTime
from triggers import ConditionError, Trigger
from worker.delivery import budget, pauses
from worker.delivery.preferences import MESSAGE_CLASSES
from worker.delivery.tokens import unsubscribe_token
from worker.processing import events, orders
from worker.providers import DeliveryError, OutgoingEmail
from worker.rendering.renderer import RenderError
from worker.rendering.variables import build_context
from worker.runtime import Runtime
from worker.scheduling import rules

logger = logging.getLogger(__name__)

# The batch `claim_many` claimed for this session (a `_Batch`), until `_end_batch`.
_BATCH_KEY = "ladder.delivery_batch"
# The sending pause as `deliver_many` last read it: (pause or None, time.monotonic() then).
_PAUSE_KEY = "ladder.sending_pause"
# How long `deliver_many` trusts the pause it read: a pause another worker records (the
# provider refused our credentials) stops this one's sends within about this long.
PAUSE_FRESH_S = 1.0
# With a provider that is not idempotent, `deliver_many` starts no new delivery after this
# long, well inside `deliver_batch`'s time limit (600 s): a limit hit mid-send would strand
# the email `sending`, and the clock could only mark it failed, outcome unknown.
BATCH_DEADLINE_S = 200.0
DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
CUSTOMERS = cast(Table, Customer.__table__)  # type: ignore[attr-defined]
EVENTS = cast(Table, Event.__table__)  # type: ignore[attr-defined]
ORDERS = cast(Table, Order.__table__)  # type: ignore[attr-defined]
SUPPRESSIONS = cast(Table, Suppression.__table__)  # type: ignore[attr-defined]
PREFERENCES = cast(Table, Preference.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Verdict:
    status: DeliveryStatus
    reason: str
    send_at: datetime | None = None  # back to scheduled, to try again then


def claim(db: Session, delivery_id: int, now: datetime) -> Delivery | None:
    """Moves a due delivery from scheduled to sending and returns it. None if another worker got
    there first, it was cancelled meanwhile, or it is not due yet.

    The row comes back as read (attributes as on `Delivery`), not tracked by the session.
    One this session claimed already with `claim_many` is returned without a statement."""
    batch = db.info.get(_BATCH_KEY)
    if batch is not None and delivery_id in batch.unsent:
        return cast(Delivery, batch.unsent.pop(delivery_id))
    delivery = db.execute(_claim(), {"delivery_id": delivery_id, "now": now}).one_or_none()
    db.commit()
    return cast(Delivery | None, delivery)


@lru_cache(maxsize=2)
def _claim(many: bool = False) -> Any:
    c = DELIVERIES.c
    which = c.id.in_(bindparam("ids", expanding=True)) if many else c.id == bindparam("delivery_id")
    return (
        update(DELIVERIES)
        .where(
            which,
            c.status == DeliveryStatus.SCHEDULED.value,
            c.send_at <= bindparam("now", type_=UTCDateTime()),
        )
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_at=bindparam("now", type_=UTCDateTime()),
            attempts=c.attempts + 1,
        )
        .returning(*DELIVERIES.c)
    )


def finish(db: Session, delivery_id: int, status: DeliveryStatus, **values: object) -> bool:
    """Moves a claimed delivery out of sending. False if it was no longer ours.

    For a delivery claimed by `claim_many` the write waits for the end of the batch, and the
    answer is True: the provider is idempotent, so a crash before the write costs only a
    harmless second send when the clock releases the claim.
    """
    names = tuple(sorted(values))
    parameters = {f"v_{name}": value for name, value in values.items()}
    parameters.update(delivery_id=delivery_id, v_status=status.value)
    batch = db.info.get(_BATCH_KEY)
    if batch is not None and delivery_id in batch.ids:
        batch.finishing.setdefault(names, []).append(parameters)
        return True
    result = db.execute(_finish(names), parameters)
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


@lru_cache(maxsize=32)
def _finish(names: tuple[str, ...]) -> Any:
    c = DELIVERIES.c
    return (
        update(DELIVERIES)
        .where(c.id == bindparam("delivery_id"), c.status == DeliveryStatus.SENDING.value)
        .values(
            status=bindparam("v_status"),
            **{name: bindparam(f"v_{name}", type_=c[name].type) for name in names},
        )
    )


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery with the rows it is about."""

    delivery: Delivery
    customer: Customer
    cause: Event
    order: Order | None
    suppressed: bool  # the address is on the suppression list
    opted_out: frozenset[str]  # the message classes the customer said no to


def deliver(
    db: Session, delivery_id: int, *, now: datetime, runtime: Runtime
) -> DeliveryStatus | None:
    """Sends one delivery. Returns its new status, or None if it was not ours to send.

    Raises DeliveryError for a transient provider error, after releasing the claim, so the
    actor's retries try again later; a permanent one is recorded on the row as `failed`.
    Does nothing while sending is paused (the provider refused our credentials).
    """
    backend = runtime.settings.email_backend.value
    pause = _pause_of(db, backend)
    if pause is not None and pause.probe_at > now:
        return None  # stays scheduled; the clock's relay brings it back after the pause
    delivery = claim(db, delivery_id, now)
    if delivery is None:
        return None
    try:
        outcome = _prepare(db, delivery, now=now, runtime=runtime)
    except BaseException:  # also Dramatiq's TimeLimitExceeded, raised in this thread
        # Nothing was sent: give the delivery back rather than leave it `sending` until the
        # claim times out (and, with a non-idempotent provider, is given up as unknown).
        db.rollback()
        finish(db, delivery_id, DeliveryStatus.SCHEDULED, reason="released after an error")
        raise
    if isinstance(outcome, Verdict):
        later = {} if outcome.send_at is None else {"send_at": outcome.send_at, "enqueued_at": None}
        finish(db, delivery_id, outcome.status, reason=outcome.reason, **later)
        return outcome.status
    email, variant, segment = outcome
    db.commit()  # End the read transaction: hold no lock while the provider answers.
    try:
        message_id = runtime.provider.send(email)
    except DeliveryError as exc:
        return record_refusal(db, delivery_id, exc, now=now, runtime=runtime)
    # The provider took it (SendGrid: 202). From here to the commit below is the one window
    # where a crash could leave a sent email recorded as `sending`: nothing else happens in it.
    finish(
        db,
        delivery_id,
        DeliveryStatus.SENT,
        sent_at=now,
        provider_message_id=message_id,
        variant=variant,
        segment=segment,
        reason=None,
    )
    if pause is not None:  # this send was the probe after a pause: the key works again
        pauses.resume(db, backend)
        _forget_pause(db)
        logger.info("sending through %s resumed: delivery %s was accepted", backend, delivery_id)
    return DeliveryStatus.SENT


def _pause_of(db: Session, backend: str) -> SendingPause | None:
    """`pauses.pause_of`; within `deliver_many`, read again only once the last read is older
    than `PAUSE_FRESH_S` or this session paused or resumed sending."""
    if _PAUSE_KEY not in db.info:
        return pauses.pause_of(db, backend)
    pause: SendingPause | None
    pause, read_at = db.info[_PAUSE_KEY]
    if read_at is None or time.monotonic() - read_at > PAUSE_FRESH_S:
        pause = pauses.pause_of(db, backend)
        db.info[_PAUSE_KEY] = (pause, time.monotonic())
    return pause


def _forget_pause(db: Session) -> None:
    if _PAUSE_KEY in db.info:
        db.info[_PAUSE_KEY] = (None, None)


def record_refusal(
    db: Session, delivery_id: int, exc: DeliveryError, *, now: datetime, runtime: Runtime
) -> DeliveryStatus:
    """Records why the provider did not take the email. Permanent: `failed` with its message.
    Refused credentials: sending pauses for every worker and the delivery waits, `scheduled`.
    Otherwise the delivery is released and `exc` raised again for the actor to retry.
    """
    if exc.permanent:
        finish(db, delivery_id, DeliveryStatus.FAILED, reason=str(exc))
        return DeliveryStatus.FAILED
    if exc.pauses_sending:
        backend = runtime.settings.email_backend.value
        finish(db, delivery_id, DeliveryStatus.SCHEDULED, reason=f"sending paused: {exc}")
        pauses.pause(
            db, backend, str(exc), now=now, probe_after_s=runtime.settings.sending_pause_probe_s
        )
        _forget_pause(db)
        logger.error("sending through %s paused (delivery %s): %s", backend, delivery_id, exc)
        return DeliveryStatus.SCHEDULED
    finish(db, delivery_id, DeliveryStatus.SCHEDULED, reason=f"will retry: {exc}")
    raise exc


def _prepare(
    db: Session, delivery: Delivery, *, now: datetime, runtime: Runtime
) -> Verdict | tuple[OutgoingEmail, str, str | None]:
    """Loads the rows, re-checks eligibility and renders: a Verdict, or the email to send
    with the variant used and the customer's segment now."""
    claimed = load(db, delivery)
    context = build_context(
        db,
        event=claimed.cause,
        customer=claimed.customer,
        order=claimed.order,
        settings=runtime.settings,
        now=now,
    )
    verdict = eligibility(db, claimed, context, now=now, runtime=runtime)
    if verdict is not None:
        return verdict
    try:
        email, variant = compose(claimed, context, now=now, runtime=runtime)
    except RenderError as exc:
        return Verdict(DeliveryStatus.FAILED, str(exc))
    return email, variant, claimed.customer.segment


def load(db: Session, delivery: Delivery) -> Claimed:
    """The customer, the cause event, its order, the suppression check and the customer's
    preferences in one query (none if `claim_many` loaded them with the claim)."""
    batch = db.info.get(_BATCH_KEY)
    row = batch.loaded.get(delivery.cause_event_id) if batch is not None else None
    if row is None:
        row = db.execute(_load(), {"event_ids": [delivery.cause_event_id]}).one()
    customer = _record(row, CUSTOMERS, 0)
    cause = _record(row, EVENTS, len(CUSTOMERS.c))
    order = _record(row, ORDERS, len(CUSTOMERS.c) + len(EVENTS.c))
    flags = row[len(CUSTOMERS.c) + len(EVENTS.c) + len(ORDERS.c) :]
    return Claimed(
        delivery,
        cast(Customer, customer),
        cast(Event, cause),
        cast(Order | None, order if order.id is not None else None),
        bool(flags[0]),
        frozenset(name for name, out in zip(MESSAGE_CLASSES, flags[1:], strict=True) if out),
    )


def _record(row: Any, table: Table, start: int) -> SimpleNamespace:
    """One table's columns out of a joined row: it reads like the model."""
    return SimpleNamespace(
        **dict(zip(table.c.keys(), row[start : start + len(table.c)], strict=True))
    )


@cache
def _load() -> Any:
    suppressed = exists().where(SUPPRESSIONS.c.email == CUSTOMERS.c.email)
    p = PREFERENCES.c
    opted_out = [
        exists()
        .where(p.customer_id == CUSTOMERS.c.id, p.message_class == name, p.opted_out.is_(true()))
        .label(f"opted_out_{name}")
        for name in MESSAGE_CLASSES
    ]
    return (
        select(*CUSTOMERS.c, *EVENTS.c, *ORDERS.c, suppressed.label("suppressed"), *opted_out)
        .select_from(EVENTS)
        .join(CUSTOMERS, CUSTOMERS.c.id == EVENTS.c.customer_id)
        .outerjoin(ORDERS, ORDERS.c.id == EVENTS.c.order_id)
        .where(EVENTS.c.id.in_(bindparam("event_ids", expanding=True)))
    )


def eligibility(
    db: Session, claimed: Claimed, context: dict[str, Any], *, now: datetime, runtime: Runtime
) -> Verdict | None:
    """Why this delivery must not go out now, checked at send time; None when it may."""
    delivery, customer = claimed.delivery, claimed.customer
    compiled = runtime.triggers.by_name.get(delivery.trigger)
    if compiled is None:
        return Verdict(DeliveryStatus.CANCELLED, f"trigger {delivery.trigger!r} no longer exists")
    trigger = compiled.trigger
    refused = _refused(claimed, trigger)
    if refused is not None:
        return refused
    if trigger.unless:
        newer = db.execute(
            _newer_event(),
            {
                "customer_id": customer.id,
                "types": list(trigger.unless),
                "after": claimed.cause.occurred_at,
                "now": now,
            },
        ).first()
        if newer is not None:
            return Verdict(DeliveryStatus.CANCELLED, f"{newer.type} (event {newer.id}) came first")
    cooldown = rules.cooldown_of(trigger)
    if cooldown is not None and events.in_cooldown(
        db,
        trigger.name,
        delivery.customer_id,
        delivery.send_at,
        cooldown,
        excluding=_not_live(db, delivery.id),  # type: ignore[arg-type]
    ):
        return Verdict(DeliveryStatus.SKIPPED, f"cooldown: another {trigger.name} within it")
    try:
        if not compiled.matches(context):
            return Verdict(DeliveryStatus.CANCELLED, f"`when` no longer holds: {trigger.when}")
    except ConditionError as exc:
        return Verdict(DeliveryStatus.FAILED, str(exc))
    if trigger.is_marketing:
        return _held_back(db, claimed, trigger, now=now, runtime=runtime)
    return None


def _refused(claimed: Claimed, trigger: Trigger) -> Verdict | None:
    """Whether the person still wants this class of mail: the suppression list, marketing
    consent and their per-class preferences, read again with the claim."""
    if claimed.suppressed:
        return Verdict(DeliveryStatus.SUPPRESSED, "address is on the suppression list")
    if trigger.is_marketing and not claimed.customer.accepts_marketing:
        return Verdict(DeliveryStatus.SUPPRESSED, "no marketing consent")
    if trigger.message_class in claimed.opted_out:
        return Verdict(DeliveryStatus.SUPPRESSED, f"opted out of {trigger.message_class} mail")
    return None


def _held_back(
    db: Session, claimed: Claimed, trigger: Trigger, *, now: datetime, runtime: Runtime
) -> Verdict | None:
    """Quiet hours and the frequency budget: later (still scheduled), or skipped past the
    trigger's maximum lateness."""
    decision = rules.hold_back(
        db,
        claimed.delivery,
        trigger=trigger,
        customer=claimed.customer,
        settings=runtime.settings,
        now=now,
        settled=_settled_in_batch(db),
        candidates=_budget_candidates(db, claimed.customer.id, now=now, runtime=runtime),  # type: ignore[arg-type]
    )
    if decision is None:
        return None
    if decision.send_at is None:
        return Verdict(DeliveryStatus.SKIPPED, decision.reason)
    return Verdict(DeliveryStatus.SCHEDULED, decision.reason, send_at=decision.send_at)


@cache
def _newer_event() -> Any:
    c = EVENTS.c
    return (
        select(c.type, c.id)
        .where(
            c.customer_id == bindparam("customer_id"),
            c.type.in_(bindparam("types", expanding=True)),
            c.occurred_at > bindparam("after", type_=UTCDateTime()),
            c.occurred_at <= bindparam("now", type_=UTCDateTime()),
        )
        .limit(1)
    )


def _budget_candidates(
    db: Session, customer_id: int, *, now: datetime, runtime: Runtime
) -> frozenset[int] | None:
    """The customer's deliveries the budget could count (`budget.candidates`), read for the
    whole batch at its first marketing delivery; None outside a batch.

    What another worker schedules or sends to the same customer while the batch goes out
    (a fraction of a second) is not seen: the budget is a rate limit, not a lock."""
    batch: _Batch | None = db.info.get(_BATCH_KEY)
    if batch is None:
        return None
    if batch.budget is None:
        settings = runtime.settings
        since = now - settings.budget.longest
        batch.budget = budget.candidates(db, batch.customers, now=now, since=since)
    return batch.budget.get(customer_id)


def _not_live(db: Session, delivery_id: int) -> set[int]:
    """This delivery and those of its batch already decided not to be live (skipped,
    cancelled, …), though their rows still read `sending` until the batch ends."""
    live = {status.value for status in events.LIVE_STATUSES}
    settled = _settled_in_batch(db)
    return {delivery_id, *(i for i, status in settled.items() if status not in live)}


def _settled_in_batch(db: Session) -> dict[int, str]:
    """Deliveries of this session's batch already decided, whose rows the batch writes at
    its end: delivery id → the status they will have."""
    batch: _Batch | None = db.info.get(_BATCH_KEY)
    if batch is None:
        return {}
    return {
        parameters["delivery_id"]: parameters["v_status"]
        for finishing in batch.finishing.values()
        for parameters in finishing
    }


def compose(
    claimed: Claimed, context: dict[str, Any], *, now: datetime, runtime: Runtime
) -> tuple[OutgoingEmail, str]:
    """Renders the variant chosen for this person; returns the email and the variant's name.

    Raises RenderError for a missing or broken template.
    """
    settings = runtime.settings
    delivery, customer = claimed.delivery, claimed.customer
    message_class = runtime.triggers.by_name[delivery.trigger].trigger.message_class
    token = unsubscribe_token(settings.secret_key(), customer.id, message_class)  # type: ignore[arg-type]
    unsubscribe_url = f"{settings.public_url.rstrip('/')}/u/{token}"
    context = {
        **context,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": f"{unsubscribe_url}/preferences",
    }
    rendered = runtime.renderer.render(
        delivery.message,
        segment=customer.segment,
        locale=customer.locale,
        context=context,
        campaign=delivery.trigger,
    )
    email = OutgoingEmail(
        delivery_id=delivery.id,  # type: ignore[arg-type]
        to=customer.email,
        sender=str(settings.sender),
        sender_name=settings.shop_name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        created_at=now,
        headers=unsubscribe_headers(unsubscribe_url) if message_class == "marketing" else {},
        categories=(delivery.trigger, delivery.message),
        custom_args={
            "delivery_id": str(delivery.id),
            "trigger": delivery.trigger,
            "segment": customer.segment or "",
        },
        reply_to=settings.sendgrid_reply_to,
        unsubscribe_group=settings.sendgrid_group(message_class),
    )
    return email, rendered.variant


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058: mail clients show an unsubscribe button that POSTs to `url`."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@dataclass
class BatchOutcome:
    """What `deliver_many` leaves to its caller."""

    retry: list[int] = field(default_factory=list)  # transient errors: for `deliver`'s retries
    later: list[int] = field(default_factory=list)  # not attempted: to send again as a batch
    delay_s: float | None = None  # rate-limited: send `later` again after this long


def deliver_many(
    db: Session, delivery_ids: Sequence[int], *, now: datetime, runtime: Runtime
) -> BatchOutcome:
    """Sends each delivery as `deliver` does, one after another in this session.

    With an idempotent provider the batch is claimed and loaded up front (`claim_many`): a
    crash then leaves the unsent ones `sending`, and the clock sends them again, harmlessly.
    Otherwise each is claimed just before it is sent, so a crash strands at most one.
    The sending pause is read once a second (`PAUSE_FRESH_S`), not once per delivery.

    Without an idempotent provider no delivery starts after `BATCH_DEADLINE_S`: those left,
    untouched and `scheduled`, come back in `later`, for the caller to send as a new batch.
    A rate limit (`DeliveryError.retry_after_s`) stops the batch too: the refused delivery
    and those not yet tried, all `scheduled`, come back in `later`, to send after `delay_s`.

    Returns in `retry` the ids that met a transient provider error: their claims are released,
    and the caller hands them to `deliver`, whose retries back off. Any other error propagates
    (the delivery it met, and those claimed after it, are released; those before it stay sent).
    """
    outcome = BatchOutcome()
    started = time.monotonic()
    db.info[_PAUSE_KEY] = (None, None)  # read at the first delivery, then once a second
    try:
        if runtime.provider.idempotent:  # inside: if loading fails, `_end_batch` releases
            claim_many(db, delivery_ids, now)
        for position, delivery_id in enumerate(delivery_ids):
            if not runtime.provider.idempotent and _past(started, BATCH_DEADLINE_S):
                outcome.later = list(delivery_ids[position:])
                break
            try:
                deliver(db, delivery_id, now=now, runtime=runtime)
            except DeliveryError as exc:
                if exc.retry_after_s is not None:  # the rest would meet the limit too
                    outcome.later = list(delivery_ids[position:])
                    outcome.delay_s = exc.retry_after_s
                    break
                outcome.retry.append(delivery_id)
    finally:
        db.info.pop(_PAUSE_KEY, None)
        _end_batch(db)
    return outcome


def _past(started: float, limit_s: float) -> bool:
    return time.monotonic() - started > limit_s


@dataclass
class _Batch:
    """Deliveries claimed together: rows not yet sent, their loaded rows, finishes to write."""

    ids: frozenset[int]
    unsent: dict[int, Any]  # delivery id → claimed row
    customers: frozenset[int] = frozenset()  # theirs
    loaded: dict[int, Any] = field(default_factory=dict)  # cause event id → row of `_load`
    budget: dict[int, frozenset[int]] | None = None  # see `_budget_candidates`
    finishing: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)


def claim_many(db: Session, delivery_ids: Sequence[int], now: datetime) -> None:
    """Claims the due deliveries among `delivery_ids` at once, each by its own compare-and-set,
    and loads their rows, for `claim` and `load` to serve as `deliver` asks for them.

    Only for an idempotent provider (see `finish`). Call `_end_batch` when done: it writes the
    finishes and puts whatever `deliver` did not take back to scheduled.
    """
    rows = db.execute(_claim(many=True), {"ids": list(delivery_ids), "now": now}).all()
    db.commit()
    batch = _Batch(
        ids=frozenset(row.id for row in rows),
        unsent={row.id: row for row in rows},
        customers=frozenset(row.customer_id for row in rows),
    )
    db.info[_BATCH_KEY] = batch
    causes = sorted({row.cause_event_id for row in rows})
    if not causes:
        return
    batch.loaded = {
        row[len(CUSTOMERS.c)]: row for row in db.execute(_load(), {"event_ids": causes})
    }
    at = len(CUSTOMERS.c) + len(EVENTS.c)  # where the order's columns start, its id first
    orders.preload_lines(db, [row[at] for row in batch.loaded.values() if row[at] is not None])
    db.commit()  # End the read transaction.


def _end_batch(db: Session) -> None:
    batch: _Batch | None = db.info.pop(_BATCH_KEY, None)
    orders.forget_lines(db)
    if batch is None:
        return
    db.rollback()
    for names, parameters in batch.finishing.items():
        db.execute(_finish(names), parameters)  # one executemany per kind of finish
    if batch.unsent:
        db.execute(_release(), {"ids": sorted(batch.unsent)})
    db.commit()


@cache
def _release() -> Any:
    c = DELIVERIES.c
    return (
        update(DELIVERIES)
        .where(c.id.in_(bindparam("ids", expanding=True)), c.status == DeliveryStatus.SENDING.value)
        .values(status=DeliveryStatus.SCHEDULED.value, reason="released: its batch stopped early")
    )
