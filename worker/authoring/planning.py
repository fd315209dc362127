"""`ladder plan`: what the current trigger files would do over the next days, without sending.

An estimate from the data as it is: event triggers replay the events of the last `days` as
if they happened again (their `when` on today's customer facts), date triggers look at the
calendar ahead, segment triggers see the moves a refresh would make now (later ones cannot
be foreseen), and the frequency budget is simulated per customer over all of them. `unless`
cancellations are not simulated: a trigger that waits for silence counts as if nobody answered.
`send_if`, checked only when an email is about to go, is read on today's facts: an estimate of
what the wait will change, counted apart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Event, Order
from triggers import CompiledTrigger, ConditionError, TriggerSet
from worker.audience import dates, segments
from worker.measurement.assignment import in_global_holdout
from worker.rendering.variables import build_context, customer_view, shop_view
from worker.scheduling import rules
from worker.scheduling.budget import MARKETING
from worker.settings import Settings


@dataclass(frozen=True)
class Planned:
    trigger: CompiledTrigger
    customer: Customer
    send_at: datetime
    due_at: datetime
    may_send: bool = True  # `send_if` holds on today's facts


@dataclass
class Plan:
    days: int
    entering: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    emails: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    held_out: Counter[str] = field(default_factory=Counter)
    no_consent: Counter[str] = field(default_factory=Counter)
    not_send_if: Counter[str] = field(default_factory=Counter)  # `send_if` would not hold
    deferred: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def plan(
    db: Session, *, triggers: TriggerSet, settings: Settings, now: datetime, days: int
) -> Plan:
    """Counts what would happen between `now` and `days` later."""
    result = Plan(days)
    matched: list[Planned] = []
    period = timedelta(days=days)
    moves = segments.preview_moves(db)
    for compiled in triggers.by_name.values():
        trigger = compiled.trigger
        result.entering[trigger.name] = set()  # listed even when nobody would enter
        if trigger.on.startswith("segment."):
            matched += _moved(db, compiled, moves, settings=settings, now=now)
        elif trigger.is_dated:
            matched += _dated(db, compiled, settings=settings, now=now, days=days)
        else:
            matched += _replayed(db, compiled, settings=settings, now=now, period=period)
    sendable = []
    for planned in matched:
        name, customer = planned.trigger.trigger.name, planned.customer
        result.entering[name].add(customer.id)  # type: ignore[arg-type]
        marketing = planned.trigger.trigger.is_marketing
        if marketing and not customer.accepts_marketing:
            result.no_consent[name] += 1
        elif rules.holdout_reason(planned.trigger.trigger, customer.id) or (  # type: ignore[arg-type]
            marketing and in_global_holdout(customer.id, settings.global_holdout)  # type: ignore[arg-type]
        ):
            result.held_out[name] += 1
        elif not planned.may_send:
            result.not_send_if[name] += 1
        else:
            sendable.append(planned)
    _simulate_budget(db, sendable, result, settings=settings, now=now)
    return result


def _context(
    db: Session, event: Event, customer: Customer, settings: Settings, now: datetime
) -> Any:
    order = db.get(Order, event.order_id) if event.order_id else None
    return build_context(
        db, event=event, customer=customer, order=order, settings=settings, now=now
    )


def _matches(compiled: CompiledTrigger, context: Any) -> bool:
    try:
        return compiled.matches(context)
    except ConditionError:
        return False  # `ladder check` and the deliveries' `failed` rows say why


def _may_send(compiled: CompiledTrigger, context: Any) -> bool:
    try:
        return compiled.may_send(context)
    except ConditionError:
        return False


def _replayed(
    db: Session, compiled: CompiledTrigger, *, settings: Settings, now: datetime, period: timedelta
) -> list[Planned]:
    trigger = compiled.trigger
    found = db.exec(
        select(Event, Customer)
        .join(Customer, col(Customer.id) == col(Event.customer_id))
        .where(col(Event.type) == trigger.on, col(Event.occurred_at) >= now - period)
        .where(col(Event.occurred_at) < now)
    ).all()
    planned = []
    for event, customer in found:
        context = _context(db, event, customer, settings, now)
        if not _matches(compiled, context):
            continue
        when = rules.when_due(
            trigger,
            occurred_at=event.occurred_at + period,
            payload=event.payload,
            customer=customer,
            settings=settings,
            now=now,
        )
        if when.send_at < now + period:
            planned.append(
                Planned(compiled, customer, when.send_at, when.due_at, _may_send(compiled, context))
            )
    return planned


def _dated(
    db: Session, compiled: CompiledTrigger, *, settings: Settings, now: datetime, days: int
) -> list[Planned]:
    trigger, dialect = compiled.trigger, db.get_bind().dialect.name
    planned = []
    for offset in range(days):
        day = now.date() + timedelta(days=offset)
        who = dates.who_on(trigger.on, day, dialect)
        if who is None:
            continue
        for customer in db.exec(select(Customer).where(who)).all():
            event = _date_event(trigger.on, day, now)
            context = _ladder_context(
                trigger.on, event.payload["data"], customer, settings=settings, now=now
            )
            if not _matches(compiled, context):
                continue
            when = rules.when_due(
                trigger,
                occurred_at=now,
                payload=event.payload,
                customer=customer,
                settings=settings,
                now=now,
            )
            may = _may_send(compiled, context)
            planned.append(Planned(compiled, customer, when.send_at, when.due_at, may))
    return planned


def _ladder_context(
    entry: str, data: Any, customer: Customer, *, settings: Settings, now: datetime
) -> dict[str, Any]:
    """What a trigger's `when` sees for an event Ladder makes itself (a date, a segment move)."""
    return {
        "event": {"type": entry, "data": data, "source": "ladder"},
        "customer": customer_view(customer, now=now, default_currency=settings.default_currency),
        "order": None,
        "before": None,
        "shop": shop_view(settings),
        "now": now,
    }


def _moved(
    db: Session,
    compiled: CompiledTrigger,
    moves: dict[int, tuple[str | None, str]],
    *,
    settings: Settings,
    now: datetime,
) -> list[Planned]:
    """The next segment refresh's moves (later ones cannot be foreseen), as if it ran now."""
    trigger = compiled.trigger
    planned = []
    movers = [i for i, (old, _) in moves.items() if old is not None]  # a first scoring: no move
    for customer in db.exec(select(Customer).where(col(Customer.id).in_(movers))).all():
        old, new = moves[customer.id]  # type: ignore[index]
        data = {"from": old, "to": new}
        context = _ladder_context(trigger.on, data, customer, settings=settings, now=now)
        if _matches(compiled, context):
            when = rules.when_due(
                trigger, occurred_at=now, payload={}, customer=customer, settings=settings, now=now
            )
            may = _may_send(compiled, context)
            planned.append(Planned(compiled, customer, when.send_at, when.due_at, may))
    return planned


def _date_event(entry: str, day: date, now: datetime) -> Event:
    data = {"on": entry, "date": day.isoformat()}
    return Event(
        source="ladder",
        source_event_id="plan",
        type=entry,
        occurred_at=now,
        received_at=now,
        payload={"data": data},
    )


def _simulate_budget(
    db: Session, planned: Iterable[Planned], result: Plan, *, settings: Settings, now: datetime
) -> None:
    """Per customer in time order (higher priority first at the same moment): send, defer to
    when the budget allows within the trigger's max lateness, or skip."""
    budget = settings.budget
    taken = _taken_before(db, now - budget.longest)
    for item in sorted(planned, key=lambda p: (p.send_at, -p.trigger.trigger.priority)):
        trigger, customer = item.trigger.trigger, item.customer
        key = (trigger.name, customer.segment or "-", customer.locale or settings.default_locale)
        if not trigger.is_marketing:
            result.emails[key] += 1
            continue
        mine = taken[customer.id]  # type: ignore[index]
        allowed, _ = budget.next_allowed(mine, now=item.send_at)
        if allowed > item.due_at + trigger.max_lateness:
            result.skipped[trigger.name] += 1
            continue
        if allowed > item.send_at:
            result.deferred[trigger.name] += 1
        mine.append(max(allowed, item.send_at))
        result.emails[key] += 1


def _taken_before(db: Session, since: datetime) -> dict[int, list[datetime]]:
    """Marketing sent since `since`, and marketing already scheduled, per customer."""
    taken: dict[int, list[datetime]] = defaultdict(list)
    rows = db.exec(
        select(Delivery.customer_id, Delivery.sent_at, Delivery.send_at).where(
            col(Delivery.message_class) == MARKETING,
            (col(Delivery.sent_at) >= since) | (col(Delivery.status) == DeliveryStatus.SCHEDULED),
        )
    ).all()
    for customer_id, sent_at, send_at in rows:
        taken[customer_id].append(sent_at if sent_at is not None else send_at)
    return taken
