"""Eligibility at send time: whether a claimed delivery may go out now, and if not, what
becomes of it (cancelled, skipped, suppressed, failed, or later)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import EVENTS
from models.types import UTCDateTime, one_of
from triggers import ConditionError, Trigger
from triggers.broadcast import PREFIX, Broadcast
from triggers.series import PREFIX as SERIES_PREFIX
from triggers.series import Series
from worker.delivery.claims import Batch, Claimed
from worker.measurement.assignment import global_reason, in_global_holdout
from worker.runtime import Runtime
from worker.scheduling import budget, rules, series

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    status: DeliveryStatus
    reason: str
    send_at: datetime | None = None  # back to scheduled, to try again then


def eligibility(
    db: Session,
    claimed: Claimed,
    context: dict[str, Any],
    *,
    now: datetime,
    runtime: Runtime,
    batch: Batch | None = None,
) -> Verdict | None:
    """Why this delivery must not go out now, checked at send time; None when it may."""
    if claimed.delivery.trigger.startswith(PREFIX):
        return _broadcast_eligibility(db, claimed, now=now, runtime=runtime, batch=batch)
    if claimed.delivery.trigger.startswith(SERIES_PREFIX):
        return _series_eligibility(db, claimed, now=now, runtime=runtime, batch=batch)
    return _trigger_eligibility(db, claimed, context, now=now, runtime=runtime, batch=batch)


def _trigger_eligibility(
    db: Session,
    claimed: Claimed,
    context: dict[str, Any],
    *,
    now: datetime,
    runtime: Runtime,
    batch: Batch | None = None,
) -> Verdict | None:
    delivery, customer = claimed.delivery, claimed.customer
    compiled = runtime.triggers.by_name.get(delivery.trigger)
    if compiled is None:
        return Verdict(DeliveryStatus.CANCELLED, f"trigger {delivery.trigger!r} no longer exists")
    trigger = compiled.trigger
    # An alert goes to the shop: the customer's consent and suppressions are about their own
    # address, not the shop's.
    refused = _alert_refused(runtime) if trigger.to_shop else _refused(claimed, trigger, runtime)
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
    if cooldown is not None and rules.in_cooldown(
        db,
        trigger.name,
        delivery.customer_id,
        delivery.send_at,
        cooldown,
        excluding=_not_live(delivery.id, batch),  # type: ignore[arg-type]
    ):
        return Verdict(DeliveryStatus.SKIPPED, f"cooldown: another {trigger.name} within it")
    try:
        if not compiled.matches(context):
            return Verdict(DeliveryStatus.CANCELLED, f"`when` no longer holds: {trigger.when}")
        if not compiled.may_send(context):
            return Verdict(DeliveryStatus.CANCELLED, f"`send_if` does not hold: {trigger.send_if}")
    except ConditionError as exc:
        # Ids and the error's kind only: the message may quote the customer's data.
        logger.warning(
            "delivery %s failed at send time: trigger %s `%s` raised %s",
            delivery.id,
            trigger.name,
            exc.field,
            exc.cause,
        )
        return Verdict(DeliveryStatus.FAILED, str(exc))
    if trigger.is_marketing:
        return _held_back(db, claimed, trigger, now=now, runtime=runtime, batch=batch)
    return None


def _broadcast_eligibility(
    db: Session, claimed: Claimed, *, now: datetime, runtime: Runtime, batch: Batch | None
) -> Verdict | None:
    """A broadcast's delivery: its audience was chosen when the run was resolved; at send time
    consent, the suppression list, preferences, quiet hours and the budget are read again."""
    name = claimed.delivery.trigger.removeprefix(PREFIX)
    broadcast = runtime.broadcasts.get(name)
    if broadcast is None:
        return Verdict(DeliveryStatus.CANCELLED, f"broadcast {name!r} no longer exists")
    refused = _refused(claimed, broadcast, runtime)
    if refused is not None:
        return refused
    if broadcast.is_marketing:
        return _held_back(db, claimed, broadcast, now=now, runtime=runtime, batch=batch)
    return None


def _series_eligibility(
    db: Session, claimed: Claimed, *, now: datetime, runtime: Runtime, batch: Batch | None
) -> Verdict | None:
    """A content series' step: as a broadcast's, and the customer still in its audience."""
    name = claimed.delivery.trigger.removeprefix(SERIES_PREFIX)
    found = runtime.series.get(name)
    if found is None:
        return Verdict(DeliveryStatus.CANCELLED, f"series {name!r} no longer exists")
    refused = _refused(claimed, found, runtime)
    if refused is not None:
        return refused
    customer_id: int = claimed.customer.id  # type: ignore[assignment]
    still = series.in_audience(
        db, found, customer_id, env=runtime.renderer.env, settings=runtime.settings, now=now
    )
    if not still:
        return Verdict(DeliveryStatus.CANCELLED, f"left the audience of {name}: {found.audience}")
    if found.is_marketing:
        return _held_back(db, claimed, found, now=now, runtime=runtime, batch=batch)
    return None


def _refused(
    claimed: Claimed, trigger: Trigger | Broadcast | Series, runtime: Runtime
) -> Verdict | None:
    """Whether the person still wants this class of mail: the suppression list, marketing
    consent and their per-class preferences, read again with the claim; and whether they are
    in the global holdout, who get no marketing (a broadcast's rows, a series' steps)."""
    if claimed.suppressed:
        return Verdict(DeliveryStatus.SUPPRESSED, "address is on the suppression list")
    if trigger.is_marketing and not claimed.customer.accepts_marketing:
        return Verdict(DeliveryStatus.SUPPRESSED, "no marketing consent")
    share = runtime.settings.global_holdout
    if trigger.is_marketing and in_global_holdout(claimed.customer.id, share):  # type: ignore[arg-type]
        return Verdict(DeliveryStatus.SKIPPED, global_reason(share))
    if trigger.message_class in claimed.opted_out:
        return Verdict(DeliveryStatus.SUPPRESSED, f"opted out of {trigger.message_class} mail")
    return None


def _alert_refused(runtime: Runtime) -> Verdict | None:
    if runtime.settings.shop_alerts_to is None:
        return Verdict(
            DeliveryStatus.SKIPPED, "an alert to the shop, and SHOP_ALERTS_TO is not set"
        )
    return None


def _held_back(
    db: Session,
    claimed: Claimed,
    trigger: Trigger | Broadcast | Series,
    *,
    now: datetime,
    runtime: Runtime,
    batch: Batch | None,
) -> Verdict | None:
    """Quiet hours and the frequency budget: later (still scheduled), or skipped past the
    trigger's maximum lateness."""
    customer_id: int = claimed.customer.id  # type: ignore[assignment]
    decision = rules.hold_back(
        db,
        claimed.delivery,
        trigger=trigger,
        customer=claimed.customer,
        settings=runtime.settings,
        now=now,
        settled=batch.settled() if batch is not None else {},
        candidates=budget_candidates(db, customer_id, now=now, runtime=runtime, batch=batch),
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
            one_of(c.type, "types"),
            c.occurred_at > bindparam("after", type_=UTCDateTime()),
            c.occurred_at <= bindparam("now", type_=UTCDateTime()),
        )
        .limit(1)
    )


def budget_candidates(
    db: Session, customer_id: int, *, now: datetime, runtime: Runtime, batch: Batch | None
) -> frozenset[int] | None:
    """The customer's deliveries the budget could count (`budget.candidates`), read for the
    whole claimed batch at its first marketing delivery; None outside one.

    What another worker schedules or sends to the same customer while the batch goes out
    (a fraction of a second) is not seen: the budget is a rate limit, not a lock."""
    if batch is None or not batch.claimed:
        return None
    if batch.budget is None:
        since = now - runtime.settings.budget.longest
        batch.budget = budget.candidates(db, batch.customers, now=now, since=since)
    return batch.budget.get(customer_id)


def _not_live(delivery_id: int, batch: Batch | None) -> set[int]:
    """This delivery and those of its batch already decided not to be live (skipped,
    cancelled, …), though their rows still read `sending` until the batch ends."""
    live = {status.value for status in rules.LIVE_STATUSES}
    settled = batch.settled() if batch is not None else {}
    return {delivery_id, *(i for i, status in settled.items() if status not in live)}
