"""What a matched trigger's delivery row says: when it is due, its dedupe key, holdout and
class, cooldown. The arithmetic of time lives in `local_time`; this applies a trigger to it."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from models import Customer, Delivery, DeliveryStatus
from models.tables import DELIVERIES
from models.types import UTCDateTime, none_of
from triggers import CompiledTrigger, Trigger
from triggers.broadcast import Broadcast
from triggers.series import Series
from worker.scheduling import budget, local_time
from worker.scheduling.holdout import is_held_out
from worker.settings import Settings

ONCE = timedelta(days=365 * 100)  # `once = true`: a cooldown longer than any customer's life
_MAX_KEY = 200


@dataclass(frozen=True)
class When:
    due_at: datetime  # where the trigger's wait, `at` and `days` put it
    send_at: datetime  # the same, moved into the send window for marketing
    reason: str | None  # why send_at differs from due_at, for `explain`


def when_due(
    trigger: Trigger,
    *,
    occurred_at: datetime,
    payload: Mapping[str, Any],
    customer: Customer,
    settings: Settings,
    now: datetime,
) -> When:
    """When this trigger's delivery for this event and customer goes out.

    A date entry starts at the local midnight of its date; an event at the moment it
    happened. Marketing keeps the send window; a time already past moves to now (a late event
    is sent at once, or at the next window start, not never — `events` skips the too late).
    """
    zone = local_time.zone_of(customer.timezone, settings.default_timezone)
    start = occurred_at
    day = payload.get("data", {}).get("date") if trigger.is_dated else None
    if isinstance(day, str):
        start = local_time.local_moment(date.fromisoformat(day), time(0), zone)
    window = settings.window if trigger.is_marketing else None
    shape = {"zone": zone, "at": trigger.at, "weekdays": trigger.weekdays}
    due = local_time.next_send_time(start, wait=_wait(trigger, customer), **shape)  # type: ignore[arg-type]
    send = local_time.next_send_time(max(due, now), window=window, **shape)  # type: ignore[arg-type]
    if send == due:
        return When(due, send, None)
    local = f"{send.astimezone(zone):%a %d %b %H:%M} {zone.key}"
    if window is not None and not window.contains(max(due, now).astimezone(zone).time()):
        return When(due, send, f"quiet hours ({window} local): moved to {local}")
    return When(due, send, f"was due {due:%Y-%m-%d %H:%M} UTC; goes at {local}")


def _wait(trigger: Trigger, customer: Customer) -> timedelta:
    if trigger.wait_for_gap is None:
        return trigger.wait
    gap = local_time.usual_gap(
        customer.orders_count, customer.first_order_at, customer.last_order_at
    )
    return local_time.relative_wait(
        gap,
        factor=trigger.wait_for_gap,
        floor=trigger.gap_floor,
        ceiling=trigger.gap_ceiling,
        fallback=trigger.wait,
    )


def dedupe_key(
    compiled: CompiledTrigger,
    context: Mapping[str, Any],
    event_id: int,
    *,
    order_id: int | None = None,
) -> str:
    """`<trigger>=<dedupe value>` when the trigger names one; else, for a trigger started by an
    order event, `<trigger>=order:<order row id>`: one order starts it once, whichever events
    tell of it (a webhook and an import, Shopify's orders/create and orders/paid); else
    `<trigger>:<event id>`. Raises ConditionError."""
    name = compiled.trigger.name
    value = compiled.dedupe_value(context)
    if value is None:
        if order_id is not None and compiled.trigger.on.startswith("order."):
            return f"{name}=order:{order_id}"
        return f"{name}:{event_id}"
    if len(value) > _MAX_KEY:
        value = hashlib.sha256(value.encode()).hexdigest()
    return f"{name}={value}"


def cooldown_of(trigger: Trigger) -> timedelta | None:
    return ONCE if trigger.once else trigger.cooldown


def holdout_reason(trigger: Trigger, customer_id: int) -> str | None:
    """Why this customer is in the trigger's control group; None when they are not."""
    if not is_held_out(trigger.name, customer_id, trigger.holdout):
        return None
    return f"control group: holdout {trigger.holdout:.0%} of {trigger.name}, never sent"


def hold_back(
    db: Session,
    delivery: Delivery,
    *,
    trigger: Trigger | Broadcast | Series,  # what it reads: its maximum lateness
    customer: Customer,
    settings: Settings,
    now: datetime,
    settled: Mapping[int, str] | None = None,
    candidates: Collection[int] | None = None,
) -> budget.Decision | None:
    """For a marketing delivery about to go out: None if it may go now; else a Decision to
    send it later (quiet hours now in the customer's zone, or the frequency budget is spent)
    or, past the trigger's maximum lateness, to skip it. `settled`: see `budget.taken`.
    `candidates`: the customer's deliveries `budget.candidates` found; too few of them to
    spend the budget, and the budget is not looked up."""
    zone = local_time.zone_of(customer.timezone, settings.default_timezone)
    window = settings.window
    due_at = delivery.due_at or delivery.send_at
    if window is not None and not window.contains(now.astimezone(zone).time()):
        later = local_time.next_send_time(now, zone=zone, window=window)
        local = f"{later.astimezone(zone):%a %d %b %H:%M} {zone.key}"
        return budget.Decision(later, f"quiet hours ({window} local): moved to {local}")
    rules = settings.budget
    if not rules.rules:
        return None
    if candidates is not None and rules.has_room(len(set(candidates) - {delivery.id})):
        return None
    taken = budget.taken(
        db,
        customer_id=delivery.customer_id,
        delivery_id=delivery.id,  # type: ignore[arg-type]
        priority=delivery.priority,
        now=now,
        since=now - rules.longest,
        settled=settled,
    )
    return budget.decide(
        rules,
        taken,
        now=now,
        due_at=due_at,
        max_lateness=trigger.max_lateness,
        settle=lambda moment: local_time.next_send_time(moment, zone=zone, window=window),
    )


# States in which a delivery counts against a trigger's cooldown.
LIVE_STATUSES = (
    DeliveryStatus.SCHEDULED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
)


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
            none_of(c.id, "excluding"),
        )
        .limit(1)
    )
