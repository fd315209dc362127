"""`ladder explain EMAIL`: one customer's timeline — events, which triggers each started and
why the others did not, and every delivery with its fate and the reason recorded for it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import or_
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Event, Order, Suppression
from triggers import CONDITION_FAILED, CompiledTrigger, ConditionError, TriggerSet
from triggers.broadcast import PREFIX, Broadcast
from triggers.matching import UnknownNameError, compile_expression
from triggers.schema import Variant
from worker.event_types import BROADCAST
from worker.rendering.variables import build_context
from worker.scheduling import ab_split, rules
from worker.scheduling.winner import TEST
from worker.settings import Settings

_AND = re.compile(r"\s+and\s+")


@dataclass(frozen=True)
class Match:
    trigger: str
    outcome: str  # "matched", "failed", "deduplicated", "did not match", "error"
    detail: str = ""


@dataclass
class Step:
    event: Event
    matches: list[Match] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)  # triggers whose waiting email it stopped


@dataclass
class Explanation:
    customer: Customer
    suppressed: bool
    steps: list[Step]
    deliveries: list[Delivery]


def explain(
    db: Session,
    email: str,
    *,
    triggers: TriggerSet,
    env: SandboxedEnvironment,
    settings: Settings,
    now: datetime,
    broadcasts: Mapping[str, Broadcast] | None = None,
) -> Explanation | None:
    """The timeline of the customer with this address; None if there is none. `broadcasts`
    (the files by name) say which A/B variant of each the customer got, and why."""
    customer = db.exec(select(Customer).where(col(Customer.email) == email.strip().lower())).first()
    if customer is None:
        return None
    deliveries = list(
        db.exec(
            select(Delivery)
            .where(col(Delivery.customer_id) == customer.id)
            .order_by(col(Delivery.id))
        ).all()
    )
    # Theirs, and the causes of their broadcasts and series steps (which name no customer).
    runs = sorted({d.cause_event_id for d in deliveries})
    found = db.exec(
        select(Event)
        .where(or_(col(Event.customer_id) == customer.id, col(Event.id).in_(runs or [0])))
        .order_by(col(Event.occurred_at), col(Event.id))
    ).all()
    started: dict[tuple[int | None, str], Delivery] = {
        (d.cause_event_id, d.trigger): d for d in deliveries
    }
    keys = {d.dedupe_key: d for d in deliveries}
    steps = []
    for event in found:
        # The reasons of cancelled deliveries name the event that stopped them.
        stopped = [
            d.trigger
            for d in deliveries
            if d.status == DeliveryStatus.CANCELLED and f"(event {event.id})" in (d.reason or "")
        ]
        step = Step(event, cancels=stopped)
        if event.type == BROADCAST:
            step.matches += [
                _reached(d, (broadcasts or {}).get(d.trigger.removeprefix(PREFIX)))
                for d in deliveries
                if d.cause_event_id == event.id
            ]
        for compiled in triggers.started_by(event.type):
            made = started.get((event.id, compiled.trigger.name))
            if made is not None:
                outcome = _outcome(compiled.trigger.name, made)
                if made.ab_variant is not None and not outcome.detail:
                    detail = _variant_detail(compiled.trigger.variants, compiled.trigger.name, made)
                    outcome = Match(outcome.trigger, outcome.outcome, detail)
                step.matches.append(outcome)
                continue
            context = build_context(
                db,
                event=event,
                customer=customer,
                order=db.get(Order, event.order_id) if event.order_id else None,
                settings=settings,
                now=now,
            )
            step.matches.append(
                _deduplicated(compiled, context, event, keys) or why_not(compiled, context, env)
            )
        steps.append(step)
    suppressed = db.exec(
        select(Suppression).where(col(Suppression.email) == customer.email)
    ).first()
    return Explanation(customer, suppressed is not None, steps, deliveries)


def _outcome(name: str, delivery: Delivery) -> Match:
    """A trigger this event started: matched, or failed because a condition could not be
    evaluated (then, or when it was about to be sent)."""
    reason = delivery.reason or ""
    if delivery.status == DeliveryStatus.FAILED and CONDITION_FAILED in reason:
        return Match(name, "failed", reason)
    return Match(name, "matched")


def _reached(delivery: Delivery, broadcast: Broadcast | None) -> Match:
    """A broadcast's run reached the customer; with an A/B test, the variant and why (or,
    outside a test-then-winner's test share, that they got its winner)."""
    if broadcast is not None and broadcast.test is not None:
        at = ab_split.position(broadcast.trigger_name + TEST, delivery.customer_id)
        where = f"hash {at:.3f}, the test share below {broadcast.test.share:.2f}"
        if delivery.ab_variant is None:
            said = f"got the test's winner, {delivery.message} ({where}: not in it)"
            return Match(delivery.trigger, "in the audience", said)
        detail = _variant_detail(broadcast.variants, broadcast.trigger_name, delivery)
        return Match(delivery.trigger, "in the audience", f"in the test ({where}); {detail}")
    if delivery.ab_variant is None or broadcast is None or not broadcast.variants:
        return Match(delivery.trigger, "in the audience")
    detail = _variant_detail(broadcast.variants, broadcast.trigger_name, delivery)
    return Match(delivery.trigger, "in the audience", detail)


def _variant_detail(variants: tuple[Variant, ...], test: str, delivery: Delivery) -> str:
    """Which A/B variant the delivery's customer got, and where their hash fell."""
    shares = [(variant.name, variant.share) for variant in variants]
    at = ab_split.position(test, delivery.customer_id)
    slices = {name: (lo, hi) for name, lo, hi in ab_split.bounds(shares)}
    low, high = slices.get(delivery.ab_variant or "", (0.0, 0.0))
    return f"A/B variant {delivery.ab_variant}: hash {at:.3f} in [{low:.2f}, {high:.2f})"


def _deduplicated(
    compiled: CompiledTrigger, context: dict[str, Any], event: Event, keys: dict[str, Delivery]
) -> Match | None:
    """A match that made no row because an earlier event with the same dedupe value (by
    default for an order event: the same order) did."""
    try:
        key = rules.dedupe_key(
            compiled,
            context,
            event.id,  # type: ignore[arg-type]
            order_id=event.order_id,
        )
    except ConditionError:
        return None
    earlier = keys.get(key)
    if earlier is None or earlier.cause_event_id == event.id:
        return None
    on = compiled.trigger.dedupe or "the order"
    detail = f"dedupe: {on} was already started by event {earlier.cause_event_id}"
    return Match(compiled.trigger.name, "deduplicated", detail)


def why_not(compiled: CompiledTrigger, context: dict[str, Any], env: SandboxedEnvironment) -> Match:
    """Why a trigger this event starts made no delivery: the first part of its `when` that
    fails on the customer's data as it is now (their facts may have moved since)."""
    name, when = compiled.trigger.name, compiled.trigger.when
    try:
        if when is None or compiled.matches(context):
            return Match(name, "did not match", "its `when` holds now; it did not then")
    except ConditionError as exc:
        return Match(name, "error", str(exc))
    for part in _AND.split(when):
        try:
            condition, _ = compile_expression(env, "when", part)
            if not condition(**context):
                return Match(name, "did not match", f"{part} is false")
        except (TemplateError, UnknownNameError, TypeError, ValueError, ArithmeticError):
            break  # a part that is no expression on its own ("(a and b)"): report the whole
    return Match(name, "did not match", f"{when} is false")
