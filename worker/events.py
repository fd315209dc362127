"""`process`: one event → customer facts → cancelled and new scheduled deliveries."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlmodel import Session, col

from models import Customer, Delivery, DeliveryStatus, Event, EventStatus
from models.db import insert_ignoring_duplicates
from triggers import CompiledTrigger, ConditionError, TriggerSet
from worker import customers, outbox
from worker.canonical import CanonicalEvent
from worker.context import build_context
from worker.errors import PermanentError
from worker.orders import record_order
from worker.settings import Settings

logger = logging.getLogger(__name__)

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


def process(
    db: Session, event_id: int, *, now: datetime, triggers: TriggerSet, settings: Settings
) -> list[int]:
    """Processes one pending event in one transaction; returns the ids of deliveries due now.

    Returns [] without doing anything if the event was already processed (a repeated message).
    Raises PermanentError, after marking the event failed, for a payload it cannot use.
    """
    event = db.scalars(
        update(Event)
        .where(col(Event.id) == event_id, col(Event.status) == EventStatus.PENDING)
        .values(status=EventStatus.PROCESSED)
        .returning(Event)
    ).one_or_none()
    if event is None:
        db.rollback()
        return []  # Another worker got there first, or it failed for good earlier.
    try:
        due = _apply(db, event, now=now, triggers=triggers, settings=settings)
    except PermanentError as exc:
        db.rollback()
        mark_failed(db, event_id, str(exc))
        raise
    db.commit()
    return due


def mark_failed(db: Session, event_id: int, reason: str) -> None:
    """Keeps the event, marked failed with the reason, for a replay after a fix."""
    db.execute(
        update(Event)
        .where(col(Event.id) == event_id, col(Event.status) == EventStatus.PENDING)
        .values(status=EventStatus.FAILED, error=reason[:2000], attempts=Event.attempts + 1)
    )
    db.commit()


def _apply(
    db: Session, event: Event, *, now: datetime, triggers: TriggerSet, settings: Settings
) -> list[int]:
    try:
        incoming = CanonicalEvent.model_validate(event.payload)
    except ValidationError as exc:
        raise PermanentError(f"payload does not fit the canonical event: {exc}") from exc
    customer = customers.resolve_customer(
        db, event.source, incoming.customer, occurred_at=event.occurred_at
    )
    event.customer_id = customer.id
    db.add(event)
    order = None
    if incoming.order is not None:
        order = record_order(
            db,
            event.source,
            incoming.order,
            customer_id=customer.id,  # type: ignore[arg-type]
            event_type=event.type,
            occurred_at=event.occurred_at,
        )
        if customer.currency is None:
            customer.currency = order.currency
        event.order_id = order.id
        customers.refresh_facts(db, customer)
    cancel_waiting(db, event, triggers)
    started = triggers.started_by(event.type)
    if not started:
        return []
    # One context for every trigger this event starts, with what any of them reads.
    needs = frozenset[str]().union(*(compiled.names for compiled in started))
    context = build_context(
        db, event=event, customer=customer, order=order, settings=settings, now=now, needs=needs
    )
    due = []
    for compiled in started:
        delivery_id = _schedule(db, compiled, context, event=event, customer=customer, now=now)
        if delivery_id is not None:
            due.append(delivery_id)
    return due


def cancel_waiting(db: Session, event: Event, triggers: TriggerSet) -> int:
    """Cancels this customer's scheduled deliveries whose `unless` lists this event's type.

    Only deliveries caused by an earlier event: the one this event starts is not cancelled.
    """
    names = triggers.cancelled_by_event(event.type)
    if not names:
        return 0
    earlier_causes = select(col(Event.id)).where(
        col(Event.customer_id) == event.customer_id, col(Event.occurred_at) < event.occurred_at
    )
    result = db.execute(
        update(Delivery)
        .where(
            col(Delivery.customer_id) == event.customer_id,
            col(Delivery.status) == DeliveryStatus.SCHEDULED,
            col(Delivery.trigger).in_(names),
            col(Delivery.cause_event_id).in_(earlier_causes),
        )
        .values(
            status=DeliveryStatus.CANCELLED,
            reason=f"{event.type} at {event.occurred_at:%Y-%m-%d %H:%M} (event {event.id})",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _schedule(
    db: Session,
    compiled: CompiledTrigger,
    context: dict[str, Any],
    *,
    event: Event,
    customer: Customer,
    now: datetime,
) -> int | None:
    """Creates the delivery row for one matching trigger; returns its id if it is due now."""
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
    inserted = insert_ignoring_duplicates(
        db,
        Delivery.__table__,  # type: ignore[attr-defined]
        [
            {
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
        ],
        Delivery.__table__.c.id,  # type: ignore[attr-defined]
    )
    if inserted and status is DeliveryStatus.SCHEDULED and send_at <= now:
        return int(inserted[0])
    return None


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
    query = select(col(Delivery.id)).where(
        col(Delivery.customer_id) == customer_id,
        col(Delivery.trigger) == trigger,
        col(Delivery.status).in_(LIVE_STATUSES),
        col(Delivery.send_at) > send_at - cooldown,
        col(Delivery.send_at) < send_at + cooldown,
    )
    if excluding is not None:
        query = query.where(col(Delivery.id) != excluding)
    return db.execute(query.limit(1)).first() is not None
