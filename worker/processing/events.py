"""`process`: one event → customer facts → cancelled and new scheduled deliveries."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, select, update
from sqlmodel import Session

from models import Customer, Delivery, DeliveryStatus, Event, EventStatus, Order
from models.db import dialect_insert
from models.types import UTCDateTime
from triggers import CompiledTrigger, ConditionError, Trigger, TriggerSet
from worker.errors import PermanentError
from worker.intake.canonical import CanonicalEvent
from worker.processing import customers
from worker.processing.orders import OrderSighting, forget_lines, insert_lines, record_orders
from worker.rendering.variables import build_context
from worker.scheduling import rules
from worker.settings import Settings

logger = logging.getLogger(__name__)

EVENTS = cast(Table, Event.__table__)  # type: ignore[attr-defined]
DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]

# A delivery that would already have been due this long ago when its event arrives (a
# backfill of old history, a platform replaying last month) is recorded as skipped, not sent.
LATE_LIMIT = timedelta(days=1)
# States in which a delivery counts against a trigger's cooldown.
LIVE_STATUSES = (
    DeliveryStatus.SCHEDULED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
)


@dataclass
class Processed:
    """What a batch of events left: deliveries due now, and events that failed for good."""

    due: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # event id → reason, kept on the row


class _EventFailed(Exception):
    def __init__(self, event_id: int, reason: str) -> None:
        super().__init__(reason)
        self.event_id, self.reason = event_id, reason


def process(
    db: Session,
    event_id: int,
    *,
    now: datetime,
    triggers: TriggerSet,
    settings: Settings,
    enqueued_at: datetime | None = None,
) -> list[int]:
    """Processes one pending event in one transaction; returns the ids of deliveries due now,
    for the caller to hand to `deliver` (`enqueued_at`: when it will; None leaves them to the
    relay).

    Returns [] without doing anything if the event was already processed (a repeated message).
    Raises PermanentError, after marking the event failed, for a payload it cannot use.
    """
    result = process_many(
        db, [event_id], now=now, triggers=triggers, settings=settings, enqueued_at=enqueued_at
    )
    if event_id in result.failed:
        raise PermanentError(result.failed[event_id])
    return result.due


def process_many(
    db: Session,
    event_ids: Sequence[int],
    *,
    now: datetime,
    triggers: TriggerSet,
    settings: Settings,
    enqueued_at: datetime | None = None,
) -> Processed:
    """Processes the pending events among `event_ids`, in id order, in one transaction.
    `Processed.due` lists the deliveries due now, stored with `enqueued_at`, for the caller to
    hand to `deliver`.

    Each event moves `pending → processed` by its own compare-and-set, so one already
    processed (a repeated message, a batch overlapping another) is left alone, and a crash
    rolls the whole batch back to pending for the relay. An event whose payload cannot be
    used is marked failed with the reason and the batch is done again without it.
    """
    processed = Processed()
    remaining = list(event_ids)
    while remaining:
        claimed = sorted(db.execute(_claim(), {"ids": remaining}), key=lambda row: row.id)
        if not claimed:
            db.rollback()
            break  # Another worker got there first, or they failed for good earlier.
        try:
            processed.due = _apply_all(
                db, claimed, _Batch(enqueued_at), now=now, triggers=triggers, settings=settings
            )
        except _EventFailed as exc:
            db.rollback()
            mark_failed(db, exc.event_id, exc.reason)
            processed.failed[exc.event_id] = exc.reason
            logger.warning("event %d failed for good; the reason is on the row", exc.event_id)
            remaining = [row.id for row in claimed if row.id != exc.event_id]
            continue
        db.commit()
        break
    return processed


@cache
def _claim() -> Any:
    return (
        update(EVENTS)
        .where(
            EVENTS.c.id.in_(bindparam("ids", expanding=True)),
            EVENTS.c.status == EventStatus.PENDING.value,
        )
        .values(status=EventStatus.PROCESSED.value)
        .returning(
            EVENTS.c.id,
            EVENTS.c.source,
            EVENTS.c.source_event_id,
            EVENTS.c.type,
            EVENTS.c.occurred_at,
            EVENTS.c.payload,
        )
    )


@cache
def _link() -> Any:
    return (
        update(EVENTS)
        .where(EVENTS.c.id == bindparam("event_id"))
        .values(customer_id=bindparam("linked_customer"), order_id=bindparam("linked_order"))
    )


def mark_failed(db: Session, event_id: int, reason: str) -> None:
    """Keeps the event, marked failed with the reason, for a replay after a fix."""
    db.execute(
        update(EVENTS)
        .where(EVENTS.c.id == event_id, EVENTS.c.status == EventStatus.PENDING.value)
        .values(
            status=EventStatus.FAILED.value, error=reason[:2000], attempts=EVENTS.c.attempts + 1
        )
    )
    db.commit()


@dataclass
class _Batch:
    """What a batch writes at its end, in one statement each."""

    enqueued_at: datetime | None  # stored on the deliveries due now: their hand-over
    links: list[dict[str, Any]] = field(default_factory=list)  # event → customer and order
    lines: list[dict[str, Any]] = field(default_factory=list)  # new orders' lines
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # new delivery rows
    due: list[int] = field(default_factory=list)  # inserted deliveries that are due now


def _apply_all(
    db: Session,
    claimed: Sequence[Any],
    batch: _Batch,
    *,
    now: datetime,
    triggers: TriggerSet,
    settings: Settings,
) -> list[int]:
    try:
        waiting = [(event, _parse(event)) for event in claimed]
        while waiting:
            waiting = _apply_round(
                db, waiting, batch, now=now, triggers=triggers, settings=settings
            )
        _insert_deliveries(db, batch, now=now)
        insert_lines(db, batch.lines)
        db.execute(_link(), batch.links)  # nothing in the batch reads these columns
    finally:
        forget_lines(db)
    return batch.due


def _parse(event: Any) -> CanonicalEvent:
    try:
        return CanonicalEvent.model_validate(event.payload)
    except ValidationError as exc:
        reason = f"payload does not fit the canonical event: {exc}"
        raise _EventFailed(event.id, reason) from exc


Parsed = tuple[Any, CanonicalEvent]  # a row of `_claim` and its payload


def _apply_round(
    db: Session,
    waiting: list[Parsed],
    batch: _Batch,
    *,
    now: datetime,
    triggers: TriggerSet,
    settings: Settings,
) -> list[Parsed]:
    """Applies the first waiting event of each customer, a few statements for them all;
    returns the others, in order, for the next round.

    One event per customer a round: each sees its customer's facts as of itself, as if the
    events came one by one. New deliveries and order lines go to `batch`.
    """
    sightings = [
        customers.Sighting(event.source, incoming.customer, event.occurred_at)
        for event, incoming in waiting
    ]
    now_round, later = _split_round(waiting, sightings, customers.find_keys(db, sightings))
    found = customers.resolve_customers(
        db, [sightings[i] for i, _ in now_round], [key for _, key in now_round]
    )
    placed = [
        (position, waiting[i]) for position, (i, _) in enumerate(now_round) if waiting[i][1].order
    ]
    recorded = record_orders(
        db,
        [
            OrderSighting(event.source, incoming.order, found[p].id, event.type, event.occurred_at)  # type: ignore[arg-type]
            for p, (event, incoming) in placed
        ],
        batch.lines,
    )
    orders = {p: order for (p, _), order in zip(placed, recorded, strict=True)}
    facts = customers.refresh_facts(db, [found[p].id for p, _ in placed])  # type: ignore[misc]
    for position, (i, _) in enumerate(now_round):
        event = waiting[i][0]
        customer = facts.get(found[position].id, found[position])  # type: ignore[arg-type]
        order = orders.get(position)
        _start_triggers(
            db,
            event,
            customer=customer,
            order=order,
            batch=batch,
            now=now,
            triggers=triggers,
            settings=settings,
        )
        batch.links.append(
            {
                "event_id": event.id,
                "linked_customer": customer.id,
                "linked_order": order.id if order else None,
            }
        )
    if later:  # written now, for the next round's `unless` and cooldown look-ups
        _insert_deliveries(db, batch, now=now)
    return [waiting[i] for i in later]


def _split_round(
    waiting: list[Parsed], sightings: list[customers.Sighting], keys: list[str | None]
) -> tuple[list[tuple[int, str]], list[int]]:
    """(position, customer key) of the events to apply this round, and positions left for
    the next: any event after one with the same email or platform id waits.

    Raises _EventFailed for an event naming an unknown id and no email (unless an earlier
    event of this round may link that id first: then it waits).
    """
    now_round: list[tuple[int, str]] = []
    later: list[int] = []
    seen: set[object] = set()
    for i, (sighting, key) in enumerate(zip(sightings, keys, strict=True)):
        handles = {key, (sighting.source, sighting.incoming.id)} - {None, (sighting.source, None)}
        if handles & seen:
            later.append(i)
        elif key is None:
            raise _EventFailed(
                waiting[i][0].id,
                f"unknown customer id {sighting.incoming.id!r} from {sighting.source}: "
                "no email to create one",
            )
        else:
            now_round.append((i, key))
        seen |= handles
    return now_round, later


def _start_triggers(
    db: Session,
    event: Any,
    *,
    customer: Customer,
    order: Order | None,
    batch: _Batch,
    now: datetime,
    triggers: TriggerSet,
    settings: Settings,
) -> None:
    """Cancels what this event's type cancels, then adds the deliveries it starts to `batch`."""
    cancel_waiting(db, event, triggers, customer_id=customer.id)  # type: ignore[arg-type]
    started = triggers.started_by(event.type)
    if not started:
        return
    # One context for every trigger this event starts, with what any of them reads.
    needs = frozenset[str]().union(*(compiled.names for compiled in started))
    context = build_context(
        db,
        event=cast(Event, event),  # a row of `_claim`: it reads like the model
        customer=customer,
        order=order,
        settings=settings,
        now=now,
        needs=needs,
    )
    for compiled in started:
        row = _delivery_row(
            db,
            compiled,
            context,
            event=event,
            customer=customer,
            now=now,
            settings=settings,
            enqueued_at=batch.enqueued_at,
        )
        if row is not None:
            batch.deliveries.append(row)


def _insert_deliveries(db: Session, batch: _Batch, *, now: datetime) -> None:
    """Inserts the batch's new deliveries so far; adds those due now to `batch.due` (a dedupe
    key seen before, from an earlier run of the same event, inserts nothing)."""
    rows, batch.deliveries = batch.deliveries, []
    if not rows:
        return
    statement = _insert_deliveries_statement(db.get_bind().dialect.name)
    inserted = {key: delivery_id for delivery_id, key in db.execute(statement, rows)}
    batch.due += sorted(
        inserted[row["dedupe_key"]]
        for row in rows
        if row["dedupe_key"] in inserted
        and row["status"] == DeliveryStatus.SCHEDULED.value
        and row["send_at"] <= now
    )


@cache
def _insert_deliveries_statement(dialect: str) -> Any:
    return (
        dialect_insert(dialect)(DELIVERIES)
        .on_conflict_do_nothing()
        .returning(DELIVERIES.c.id, DELIVERIES.c.dedupe_key)
    )


def cancel_waiting(db: Session, event: Any, triggers: TriggerSet, *, customer_id: int) -> int:
    """Cancels this customer's scheduled deliveries whose `unless` lists this event's type.

    Only deliveries caused by an earlier event: the one this event starts is not cancelled.
    """
    names = triggers.cancelled_by_event(event.type)
    if not names:
        return 0
    reason = f"{event.type} at {event.occurred_at:%Y-%m-%d %H:%M} (event {event.id})"
    result = db.execute(
        _cancel_waiting(),
        {
            "p_customer_id": customer_id,
            "names": sorted(names),
            "occurred_at": event.occurred_at,
            "p_reason": reason,
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@cache
def _cancel_waiting() -> Any:
    # The cause's time, not its customer: events of this batch get their customer_id at its end.
    earlier_cause = (
        select(EVENTS.c.id)
        .where(
            EVENTS.c.id == DELIVERIES.c.cause_event_id,
            EVENTS.c.occurred_at < bindparam("occurred_at", type_=UTCDateTime()),
        )
        .exists()
    )
    return (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.customer_id == bindparam("p_customer_id"),
            DELIVERIES.c.status == DeliveryStatus.SCHEDULED.value,
            DELIVERIES.c.trigger.in_(bindparam("names", expanding=True)),
            earlier_cause,
        )
        .values(status=DeliveryStatus.CANCELLED.value, reason=bindparam("p_reason"))
    )


def _delivery_row(
    db: Session,
    compiled: CompiledTrigger,
    context: dict[str, Any],
    *,
    event: Any,
    customer: Customer,
    now: datetime,
    settings: Settings,
    enqueued_at: datetime | None,
) -> dict[str, Any] | None:
    """The delivery row for one trigger, if it matches: scheduled, held out, skipped or failed."""
    trigger = compiled.trigger
    status, reason = DeliveryStatus.SCHEDULED, None
    key = f"{trigger.name}:{event.id}"
    try:
        if not compiled.matches(context):
            return None
        key = rules.dedupe_key(compiled, context, event.id)
    except ConditionError as exc:
        status, reason = DeliveryStatus.FAILED, str(exc)
    when = rules.when_due(
        trigger,
        occurred_at=event.occurred_at,
        payload=event.payload,
        customer=customer,
        settings=settings,
        now=now,
    )
    if status is DeliveryStatus.SCHEDULED:
        status, reason = _rules_say(db, trigger, customer, when.due_at, now)
        reason = reason or when.reason
    return {
        "dedupe_key": key,
        "trigger": trigger.name,
        "message": trigger.message,
        "customer_id": customer.id,
        "cause_event_id": event.id,
        "status": status.value,
        "send_at": when.send_at,
        "due_at": when.due_at,
        "message_class": trigger.message_class,
        "priority": trigger.priority,
        "created_at": now,
        "reason": reason,
        "attempts": 0,
        "enqueued_at": enqueued_at if when.send_at <= now else None,
    }


def _rules_say(
    db: Session, trigger: Trigger, customer: Customer, due_at: datetime, now: datetime
) -> tuple[DeliveryStatus, str | None]:
    if due_at < now - LATE_LIMIT:
        return DeliveryStatus.SKIPPED, f"missed: was due {due_at:%Y-%m-%d %H:%M}, too late to send"
    cooldown = rules.cooldown_of(trigger)
    if cooldown is not None and in_cooldown(db, trigger.name, customer.id, due_at, cooldown):  # type: ignore[arg-type]
        if trigger.once:
            return DeliveryStatus.SKIPPED, f"once: {trigger.name} was sent or scheduled before"
        return (
            DeliveryStatus.SKIPPED,
            f"cooldown: {trigger.name} already sent or scheduled within it",
        )
    held = rules.holdout_reason(trigger, customer.id)  # type: ignore[arg-type]
    if held is not None:
        return DeliveryStatus.HELD_OUT, held
    return DeliveryStatus.SCHEDULED, None


def in_cooldown(
    db: Session,
    trigger: str,
    customer_id: int,
    send_at: datetime,
    cooldown: timedelta,
    *,
    excluding: Collection[int] = (),
) -> bool:
    """True if this customer has a live delivery of `trigger` within `cooldown` of `send_at`,
    other than those with ids in `excluding`."""
    values = {
        "customer_id": customer_id,
        "trigger": trigger,
        "after": send_at - cooldown,
        "before": send_at + cooldown,
        "excluding": list(excluding) or [0],  # ids start at 1
    }
    return db.execute(_live_within(), values).first() is not None


@cache
def _live_within() -> Any:
    c = DELIVERIES.c
    return (
        select(c.id)
        .where(
            c.customer_id == bindparam("customer_id"),
            c.trigger == bindparam("trigger"),
            c.status.in_([status.value for status in LIVE_STATUSES]),
            c.send_at > bindparam("after", type_=UTCDateTime()),
            c.send_at < bindparam("before", type_=UTCDateTime()),
            c.id.not_in(bindparam("excluding", expanding=True)),
        )
        .limit(1)
    )
