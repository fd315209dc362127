"""Matching: an applied event cancels the waits its type ends (`unless`) and starts the
triggers that listen for it, as delivery rows: scheduled, held out, skipped or failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlmodel import Session

from models import Customer, DeliveryStatus, Event, Order
from models.db import dialect_insert, insert_many
from models.states import DELIVERY
from models.tables import DELIVERIES, EVENTS
from models.types import UTCDateTime, one_of
from triggers import CompiledTrigger, ConditionError, Trigger, TriggerSet
from triggers.programme import Programme
from worker.measurement import assignment
from worker.measurement.rung_scheme import Scheme as RungScheme
from worker.processing.orders import OrderLines
from worker.rendering.variables import build_context
from worker.scheduling import ab_split, rules
from worker.settings import Settings

logger = logging.getLogger(__name__)

# A delivery that would already have been due this long ago when its event arrives (a
# backfill of old history, a platform replaying last month) is recorded as skipped, not sent.
LATE_LIMIT = timedelta(days=1)


@dataclass(frozen=True)
class Scheduler:
    """What `processing.events` asks about each event it applies (its `Scheduler` protocol).

    `enqueued_at` is stored on the deliveries due at once: when the caller hands them over.
    """

    triggers: TriggerSet
    settings: Settings
    enqueued_at: datetime | None = None
    programme: Programme | None = None  # the loyalty programme order events earn in
    rungs: RungScheme | None = None  # the ladder events move customers on; None: not kept

    def start(
        self,
        db: Session,
        event: Any,
        *,
        customer: Customer,
        order: Order | None,
        lines: OrderLines,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Cancels what this event's type cancels; returns the delivery rows it starts."""
        cancel_waiting(db, event, self.triggers, customer_id=customer.id, order=order)  # type: ignore[arg-type]
        started = self.triggers.started_by(event.type)
        if not started:
            return []
        # One context for every trigger this event starts, with what any of them reads.
        needs = frozenset[str]().union(*(compiled.names for compiled in started))
        context = build_context(
            db,
            event=cast(Event, event),  # a row of the claim: it reads like the model
            customer=customer,
            order=order,
            settings=self.settings,
            now=now,
            needs=needs,
            lines=lines,
        )
        rows = (
            self._row(db, compiled, context, event=event, customer=customer, order=order, now=now)
            for compiled in started
        )
        return [row for row in rows if row is not None]

    def insert(self, db: Session, rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
        """Inserts delivery rows; returns the ids of those due now (a dedupe key seen before,
        from an earlier run of the same event, inserts nothing)."""
        if not rows:
            return []
        statement = _insert_statement(db.get_bind().dialect.name)
        inserted = {key: delivery_id for delivery_id, key in insert_many(db, statement, rows)}
        return sorted(
            inserted[row["dedupe_key"]]
            for row in rows
            if row["dedupe_key"] in inserted
            and row["status"] == DeliveryStatus.SCHEDULED.value
            and row["send_at"] <= now
        )

    def _row(
        self,
        db: Session,
        compiled: CompiledTrigger,
        context: dict[str, Any],
        *,
        event: Any,
        customer: Customer,
        order: Order | None,
        now: datetime,
    ) -> dict[str, Any] | None:
        """The delivery row for one trigger, if it matches."""
        trigger = compiled.trigger
        status, reason = DeliveryStatus.SCHEDULED, None
        key = f"{trigger.name}:{event.id}"
        try:
            if not compiled.matches(context):
                return None
            key = rules.dedupe_key(
                compiled, context, event.id, order_id=order.id if order is not None else None
            )
        except ConditionError as exc:
            # Ids and the error's kind only: the message may quote the customer's data.
            logger.warning(
                "event %s, customer %s: trigger %s `%s` raised %s; delivery recorded as failed",
                event.id,
                customer.id,
                trigger.name,
                exc.field,
                exc.cause,
            )
            status, reason = DeliveryStatus.FAILED, str(exc)
        when = rules.when_due(
            trigger,
            occurred_at=event.occurred_at,
            payload=event.payload,
            customer=customer,
            settings=self.settings,
            now=now,
        )
        if status is DeliveryStatus.SCHEDULED:
            status, reason = _rules_say(db, trigger, customer, when.due_at, now)
            reason = reason or when.reason
        if status is DeliveryStatus.SCHEDULED and trigger.is_marketing:
            share = self.settings.global_holdout
            if assignment.in_global_holdout(customer.id, share):  # type: ignore[arg-type]
                status, reason = DeliveryStatus.HELD_OUT, assignment.global_reason(share)
        variant = _variant_of(trigger, customer.id)  # type: ignore[arg-type]
        return {
            "dedupe_key": key,
            "trigger": trigger.name,
            "message": trigger.message_of(variant),
            "ab_variant": variant,
            "customer_id": customer.id,
            "cause_event_id": event.id,
            "status": status.value,
            "send_at": when.send_at,
            "due_at": when.due_at,
            "message_class": trigger.message_class,
            "priority": trigger.priority,
            # Held-out rows are never sent: their segment is the one they were chosen in.
            "segment": customer.segment,
            "attribution": trigger.attribution,
            "attribution_window_s": int(trigger.attribution_window.total_seconds()),
            "created_at": now,
            "reason": reason,
            "attempts": 0,
            "enqueued_at": self.enqueued_at if when.send_at <= now else None,
        }


def _variant_of(trigger: Trigger, customer_id: int) -> str | None:
    """The A/B variant this customer gets (by a hash of their id); None without a test."""
    if not trigger.variants:
        return None
    shares = [(variant.name, variant.share) for variant in trigger.variants]
    return ab_split.variant_of(trigger.name, shares, customer_id)


@cache
def _insert_statement(dialect: str) -> Any:
    return (
        dialect_insert(dialect)(DELIVERIES)
        .on_conflict_do_nothing()
        .returning(DELIVERIES.c.id, DELIVERIES.c.dedupe_key)
    )


def cancel_waiting(
    db: Session,
    event: Any,
    triggers: TriggerSet,
    *,
    customer_id: int,
    order: Order | None = None,
) -> int:
    """Cancels this customer's scheduled deliveries whose `unless` lists this event's type.

    Only deliveries caused by an earlier event, and not by one of the same type about the same
    order (the same order told again, by an import after its webhook): the one this event
    starts is not cancelled. A partial refund cancels nothing: the order still counts.
    """
    names = triggers.cancelled_by_event(event.type)
    if not names:
        return 0
    if event.type == "order.refunded" and order is not None and order.status != "refunded":
        return 0
    reason = f"{event.type} at {event.occurred_at:%Y-%m-%d %H:%M} (event {event.id})"
    result = db.execute(
        _cancel_waiting(),
        {
            "p_customer_id": customer_id,
            "names": sorted(names),
            "occurred_at": event.occurred_at,
            "p_order_id": order.id if order is not None else None,
            "p_type": event.type,
            "p_reason": reason,
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@cache
def _cancel_waiting() -> Any:
    # The cause's time, not its customer: events of this batch get their customer_id at its end
    # (their order_id at the end of their round).
    cause = EVENTS.c.id == DELIVERIES.c.cause_event_id
    earlier_cause = (
        select(EVENTS.c.id)
        .where(cause, EVENTS.c.occurred_at < bindparam("occurred_at", type_=UTCDateTime()))
        .exists()
    )
    same_order_again = (
        select(EVENTS.c.id)
        .where(
            cause,
            EVENTS.c.order_id == bindparam("p_order_id"),
            EVENTS.c.type == bindparam("p_type"),
        )
        .exists()
    )
    return DELIVERY.update(
        DeliveryStatus.SCHEDULED,
        DeliveryStatus.CANCELLED,
        DELIVERIES.c.customer_id == bindparam("p_customer_id"),
        one_of(DELIVERIES.c.trigger, "names"),
        earlier_cause,
        ~same_order_again,
        reason=bindparam("p_reason"),
    )


def _rules_say(
    db: Session, trigger: Trigger, customer: Customer, due_at: datetime, now: datetime
) -> tuple[DeliveryStatus, str | None]:
    if due_at < now - LATE_LIMIT:
        return DeliveryStatus.SKIPPED, f"missed: was due {due_at:%Y-%m-%d %H:%M}, too late to send"
    cooldown = rules.cooldown_of(trigger)
    if cooldown is not None and rules.in_cooldown(db, trigger.name, customer.id, due_at, cooldown):  # type: ignore[arg-type]
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
