"""The deliveries an event starts and cancels: trigger rows, `unless`, cooldown, late events."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlmodel import Session

from models import Customer, Delivery, DeliveryStatus, Event
from models.db import dialect_insert
from models.types import UTCDateTime
from triggers import CompiledTrigger, ConditionError, TriggerSet
from worker import outbox

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


def insert_deliveries(db: Session, rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
    """Inserts new delivery rows (from `delivery_row`) in one statement; returns the ids of
    those due now. A dedupe key seen before, from an earlier run of the same event, inserts
    nothing."""
    if not rows:
        return []
    statement = _insert_deliveries_statement(db.get_bind().dialect.name)
    inserted = {key: delivery_id for delivery_id, key in db.execute(statement, rows)}
    return sorted(
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


def delivery_row(
    db: Session,
    compiled: CompiledTrigger,
    context: dict[str, Any],
    *,
    event: Any,
    customer: Customer,
    now: datetime,
) -> dict[str, Any] | None:
    """The delivery row for one trigger, if it matches: scheduled, skipped or failed."""
    trigger = compiled.trigger
    status, reason = DeliveryStatus.SCHEDULED, None
    try:
        if not compiled.matches(context):
            return None
    except ConditionError as exc:
        status, reason = DeliveryStatus.FAILED, str(exc)
    send_at = event.occurred_at + trigger.wait
    if status is DeliveryStatus.SCHEDULED:
        status, reason = _rules_say(db, trigger.name, trigger.cooldown, customer, send_at, now)
    return {
        "dedupe_key": f"{trigger.name}:{event.id}",
        "trigger": trigger.name,
        "message": trigger.message,
        "customer_id": customer.id,
        "cause_event_id": event.id,
        "status": status.value,
        "send_at": send_at,
        "created_at": now,
        "reason": reason,
        "attempts": 0,
        "enqueued_at": outbox.enqueue_at(now) if send_at <= now else None,
    }


def _rules_say(
    db: Session,
    trigger: str,
    cooldown: timedelta | None,
    customer: Customer,
    send_at: datetime,
    now: datetime,
) -> tuple[DeliveryStatus, str | None]:
    if send_at < now - LATE_LIMIT:
        return DeliveryStatus.SKIPPED, f"missed: was due {send_at:%Y-%m-%d %H:%M}, too late to send"
    if cooldown is not None and in_cooldown(db, trigger, customer.id, send_at, cooldown):  # type: ignore[arg-type]
        return DeliveryStatus.SKIPPED, f"cooldown: {trigger} already sent or scheduled within it"
    return DeliveryStatus.SCHEDULED, None


def in_cooldown(
    db: Session,
    trigger: str,
    customer_id: int,
    send_at: datetime,
    cooldown: timedelta,
    *,
    excluding: int | None = None,
) -> bool:
    """True if this customer has a live delivery of `trigger` within `cooldown` of `send_at`."""
    values = {
        "customer_id": customer_id,
        "trigger": trigger,
        "after": send_at - cooldown,
        "before": send_at + cooldown,
        "excluding": 0 if excluding is None else excluding,  # ids start at 1
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
            c.id != bindparam("excluding"),
        )
        .limit(1)
    )
