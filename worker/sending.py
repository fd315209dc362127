"""`deliver`: claim → re-check eligibility → choose variant → render → provider → record."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlmodel import Session, col

from models import Customer, Delivery, DeliveryStatus, Event, Order, Suppression
from triggers import ConditionError
from worker import events
from worker.context import build_context
from worker.providers import DeliveryError, OutgoingEmail
from worker.rendering import RenderError
from worker.runtime import Runtime
from worker.tokens import unsubscribe_token

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    status: DeliveryStatus
    reason: str


def claim(db: Session, delivery_id: int, now: datetime) -> Delivery | None:
    """Moves a due delivery from scheduled to sending and returns it. None if another worker got
    there first, it was cancelled meanwhile, or it is not due yet."""
    delivery = db.scalars(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == DeliveryStatus.SCHEDULED,
            col(Delivery.send_at) <= now,
        )
        .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery)
    ).one_or_none()
    db.commit()
    return delivery


def finish(db: Session, delivery_id: int, status: DeliveryStatus, **values: object) -> bool:
    """Moves a claimed delivery out of sending. False if it was no longer ours."""
    result = db.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.status) == DeliveryStatus.SENDING)
        .values(status=status, **values)
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery with the rows it is about."""

    delivery: Delivery
    customer: Customer
    cause: Event
    order: Order | None
    suppressed: bool  # the address is on the suppression list


def deliver(
    db: Session, delivery_id: int, *, now: datetime, runtime: Runtime
) -> DeliveryStatus | None:
    """Sends one delivery. Returns its new status, or None if it was not ours to send.

    Raises DeliveryError for a transient provider error, after releasing the claim, so the
    actor's retries try again later; a permanent one is recorded on the row as `failed`.
    """
    delivery = claim(db, delivery_id, now)
    if delivery is None:
        return None
    try:
        outcome = _prepare(db, delivery, now=now, runtime=runtime)
    except Exception:
        # Nothing was sent: give the delivery back rather than leave it `sending` until the
        # claim times out (and, with a non-idempotent provider, is given up as unknown).
        db.rollback()
        finish(db, delivery_id, DeliveryStatus.SCHEDULED, reason="released after an error")
        raise
    if isinstance(outcome, Verdict):
        finish(db, delivery_id, outcome.status, reason=outcome.reason)
        return outcome.status
    email, variant, segment = outcome
    db.commit()  # End the read transaction: hold no lock while the provider answers.
    try:
        message_id = runtime.provider.send(email)
    except DeliveryError as exc:
        if exc.permanent:
            finish(db, delivery_id, DeliveryStatus.FAILED, reason=str(exc))
            return DeliveryStatus.FAILED
        finish(db, delivery_id, DeliveryStatus.SCHEDULED, reason=f"will retry: {exc}")
        raise
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
    return DeliveryStatus.SENT


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
    """The customer, the cause event, its order and the suppression check in one query."""
    suppressed = exists().where(col(Suppression.email) == col(Customer.email))
    customer, cause, order, is_suppressed = db.execute(
        select(Customer, Event, Order, suppressed.label("suppressed"))
        .select_from(Event)
        .join(Customer, col(Customer.id) == col(Event.customer_id))
        .outerjoin(Order, col(Order.id) == col(Event.order_id))
        .where(col(Event.id) == delivery.cause_event_id)
    ).one()
    return Claimed(delivery, customer, cause, order, bool(is_suppressed))


def eligibility(
    db: Session, claimed: Claimed, context: dict[str, Any], *, now: datetime, runtime: Runtime
) -> Verdict | None:
    """Why this delivery must not go out now, checked at send time; None when it may."""
    delivery, customer = claimed.delivery, claimed.customer
    compiled = runtime.triggers.by_name.get(delivery.trigger)
    if compiled is None:
        return Verdict(DeliveryStatus.CANCELLED, f"trigger {delivery.trigger!r} no longer exists")
    if claimed.suppressed:
        return Verdict(DeliveryStatus.SUPPRESSED, "address is on the suppression list")
    if not customer.accepts_marketing:
        return Verdict(DeliveryStatus.SUPPRESSED, "no marketing consent")
    trigger = compiled.trigger
    if trigger.unless:
        newer = db.execute(
            select(col(Event.type), col(Event.id))
            .where(
                col(Event.customer_id) == customer.id,
                col(Event.type).in_(trigger.unless),
                col(Event.occurred_at) > claimed.cause.occurred_at,
                col(Event.occurred_at) <= now,
            )
            .limit(1)
        ).first()
        if newer is not None:
            return Verdict(DeliveryStatus.CANCELLED, f"{newer.type} (event {newer.id}) came first")
    if trigger.cooldown is not None and events.in_cooldown(
        db,
        trigger.name,
        delivery.customer_id,
        delivery.send_at,
        trigger.cooldown,
        excluding=delivery.id,
    ):
        return Verdict(DeliveryStatus.SKIPPED, f"cooldown: another {trigger.name} within it")
    try:
        if not compiled.matches(context):
            return Verdict(DeliveryStatus.CANCELLED, f"`when` no longer holds: {trigger.when}")
    except ConditionError as exc:
        return Verdict(DeliveryStatus.FAILED, str(exc))
    return None


def compose(
    claimed: Claimed, context: dict[str, Any], *, now: datetime, runtime: Runtime
) -> tuple[OutgoingEmail, str]:
    """Renders the variant chosen for this person; returns the email and the variant's name.

    Raises RenderError for a missing or broken template.
    """
    settings = runtime.settings
    delivery, customer = claimed.delivery, claimed.customer
    token = unsubscribe_token(settings.secret_key(), customer.id)  # type: ignore[arg-type]
    unsubscribe_url = f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"
    preferences_url = f"{settings.public_url.rstrip('/')}/u/{token}/preferences"
    context = {**context, "unsubscribe_url": unsubscribe_url, "preferences_url": preferences_url}
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
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        categories=(delivery.trigger, delivery.message),
        custom_args={
            "delivery_id": str(delivery.id),
            "trigger": delivery.trigger,
            "segment": customer.segment or "",
        },
    )
    return email, rendered.variant
