"""Provider events (SendGrid's Event Webhook, Postmark's webhooks): stored raw, then applied
to deliveries, suppressions and consent."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from models import Customer, Delivery, DeliveryStatus, ProviderEvent
from models.db import insert_ignoring_duplicates
from models.states import DELIVERY
from models.tables import DELIVERIES, PROVIDER_EVENTS
from worker import hygiene
from worker.delivery import postmark_events
from worker.delivery.recovery import OUTCOME_UNKNOWN
from worker.measurement import attribution
from worker.processing.preferences import MESSAGE_CLASSES, set_preference, suppress
from worker.settings import Settings

logger = logging.getLogger(__name__)

PROVIDER = "sendgrid"
S = DeliveryStatus
_AFTER_SEND = (S.SENDING, S.SENT, S.DEFERRED)
# Event → (the delivery's new status, the statuses it may move from). `sending` is among them:
# an event proves the provider took an email whose 202 we never got to record.
TRANSITIONS: dict[str, tuple[DeliveryStatus, tuple[DeliveryStatus, ...]]] = {
    "deferred": (S.DEFERRED, (S.SENDING, S.SENT)),
    "delivered": (S.DELIVERED, _AFTER_SEND),
    "open": (S.OPENED, (*_AFTER_SEND, S.DELIVERED)),
    "click": (S.CLICKED, (*_AFTER_SEND, S.DELIVERED, S.OPENED)),
    "bounce": (S.BOUNCED, (*_AFTER_SEND, S.DELIVERED)),
    "dropped": (S.DROPPED, _AFTER_SEND),
}
# What a `dropped` reason says about the address (SendGrid's own suppression lists).
_DROPPED_SUPPRESSES = ("invalid", "bounced address", "spam reporting address")
# The largest row id the `delivery_id` custom argument may name (an INTEGER column).
MAX_ROW_ID = 2**31 - 1
# The longest text of each field Ladder stores or looks up (the columns' widths).
_TEXT_LIMITS = {"sg_event_id": 255, "sg_message_id": 255, "email": 320}


class MalformedEvents(ValueError):
    """The body is not a JSON array of event objects."""


def parse(body: bytes) -> list[dict[str, Any]]:
    """The events in a webhook body. Raises MalformedEvents."""
    try:
        events = hygiene.loads(body)
    except hygiene.NotJSON as exc:  # nesting, NaN, a 5,000-digit number
        raise MalformedEvents(f"not JSON: {exc}") from exc
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise MalformedEvents("expected a JSON array of event objects")
    return events


def problems(events: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """What Ladder cannot store or use in the events, as `{"field": "3.timestamp", "error":
    "…"}`: text the database refuses, a time out of range, a delivery id no row can have, an
    id or address longer than its column. SendGrid sends none of these; a body that holds one
    is refused whole, before anything is stored, rather than kept and failing on every try."""
    found = []
    for index, event in enumerate(events):
        for path, text in hygiene.unstorable_text(event):
            found.append({"field": f"{index}.{path}", "error": text})
        for name, check in _CHECKS.items():
            if name in event and (problem := check(event[name], name)) is not None:
                found.append({"field": f"{index}.{name}", "error": problem})
    return found


def _timestamp_problem(value: object, _name: str) -> str | None:
    return hygiene.timestamp_problem(value)


def _delivery_id_problem(value: object, _name: str) -> str | None:
    """Our custom argument is a row id in digits; other text finds no delivery (the message id
    is looked up instead), but digits no row can have are refused."""
    digits = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(digits, str) and digits.isascii() and digits.isdigit()):
        return None
    if not 0 < int(digits) <= MAX_ROW_ID:
        return f"must be a delivery id, at most {MAX_ROW_ID}"
    return None


def _text_problem(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be text"
    if len(value) > _TEXT_LIMITS[name]:
        return f"longer than {_TEXT_LIMITS[name]} characters"
    return None


_CHECKS: dict[str, Callable[[object, str], str | None]] = {
    "timestamp": _timestamp_problem,
    "delivery_id": _delivery_id_problem,
    **dict.fromkeys(_TEXT_LIMITS, _text_problem),
}


def store(db: Session, events: Sequence[dict[str, Any]], *, now: datetime) -> list[int]:
    """Stores the events not seen before (by sg_event_id) and commits; returns their row ids."""
    return store_rows(db, [_row(db, event, now) for event in events])


def store_rows(db: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Stores the `provider_events` rows not seen before (by provider and the provider's event
    id) and commits; returns their row ids."""
    ids = insert_ignoring_duplicates(db, PROVIDER_EVENTS, list(rows), PROVIDER_EVENTS.c.id)
    db.commit()
    return [int(i) for i in ids]


def _row(db: Session, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    # Every SendGrid event has an sg_event_id; a body hash stands in if one ever lacks it.
    event_id = str(event.get("sg_event_id") or "")
    if not event_id:
        event_id = (
            "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        )
    timestamp = event.get("timestamp")
    occurred = datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int | float) else now
    return {
        "provider": PROVIDER,
        "provider_event_id": event_id[:255],
        "type": str(event.get("event", ""))[:32],
        "delivery_id": _delivery_id(db, event),
        "occurred_at": occurred,
        "received_at": now,
        "payload": event,
        "applied_at": None,
    }


def _delivery_id(db: Session, event: dict[str, Any]) -> int | None:
    """Our `delivery_id` custom argument; else the delivery SendGrid's message id names."""
    given = str(event.get("delivery_id", ""))
    if given.isascii() and given.isdigit():  # `problems` refused a number no row can have
        return int(given)
    message_id = str(event.get("sg_message_id", "")).split(".")[0]
    if not message_id:
        return None
    return db.scalar(
        select(col(Delivery.id)).where(col(Delivery.provider_message_id) == message_id).limit(1)
    )


def unapplied_ids(db: Session) -> list[int]:
    """Stored events whose application failed (or was cut short), oldest first."""
    ids = db.scalars(
        select(col(ProviderEvent.id))
        .where(col(ProviderEvent.applied_at).is_(None))
        .order_by(col(ProviderEvent.id))
    ).all()
    return [int(i) for i in ids if i is not None]


def apply_stored(db: Session, ids: Sequence[int], *, now: datetime, settings: Settings) -> int:
    """Applies the stored events `ids` in order, each in its own transaction, marking each
    applied. Returns how many were applied."""
    applied = 0
    for row in db.scalars(
        select(ProviderEvent)
        .where(col(ProviderEvent.id).in_(ids), col(ProviderEvent.applied_at).is_(None))
        .order_by(col(ProviderEvent.occurred_at), col(ProviderEvent.id))
    ).all():
        apply(db, row, settings=settings)
        row.applied_at = now
        db.add(row)
        db.commit()
        applied += 1
    return applied


def reapply_stale(db: Session, *, now: datetime, older_than: timedelta, settings: Settings) -> int:
    """Applies the stored events whose application failed (the web request stored them, then
    met an error) and that were received before `now - older_than`; returns how many were
    applied. One that fails again is logged with its id and left, counted by `ladder status`,
    so it cannot stop the others or the clock."""
    ids = [
        int(event_id)
        for event_id in db.scalars(
            select(col(ProviderEvent.id))
            .where(
                col(ProviderEvent.applied_at).is_(None),
                col(ProviderEvent.received_at) < now - older_than,
            )
            .order_by(col(ProviderEvent.id))
            .limit(1000)
        )
        if event_id is not None
    ]
    db.commit()
    applied = 0
    for event_id in ids:
        try:
            applied += apply_stored(db, [event_id], now=now, settings=settings)
        except Exception:  # logged with its id; the row stays unapplied for the next run
            db.rollback()
            logger.exception("provider event %s could not be applied again", event_id)
    return applied


def apply(db: Session, row: ProviderEvent, *, settings: Settings) -> None:
    """The delivery's status moves on; a bounce, complaint or unsubscribe reaches the address.

    Only for a delivery Ladder sent to that address: the signature proves SendGrid sent the
    event, not that it is about Ladder's mail (one SendGrid account may serve other senders,
    whose custom arguments can collide with ours). An event naming no delivery of ours, or
    another address than its delivery's customer, changes nothing.
    """
    event = row.payload
    postmark = row.provider == postmark_events.PROVIDER
    if postmark:
        email = postmark_events.recipient(event)
    else:
        email = str(event.get("email", "")).strip().lower()
    recipient = _recipient(db, row.delivery_id)
    if recipient is None or (email and email != recipient):
        logger.info("provider event %s matches no delivery of ours: not applied", row.id)
        return
    transition = TRANSITIONS.get(row.type)
    if transition is not None:
        status, before = transition
        values: dict[str, Any] = {}
        if row.type in ("bounce", "dropped"):
            said = postmark_events.reason(event) if postmark else event.get("reason", "")
            values["reason"] = f"{row.type}: {said}".strip()
        # A delivery the clock gave up as "outcome unknown" (its worker died after sending) is
        # settled by the provider's word too; any other failure is not.
        unknown_if_failed = or_(
            DELIVERIES.c.status != S.FAILED.value, DELIVERIES.c.reason.startswith(OUTCOME_UNKNOWN)
        )
        # Forward only: a delivery already past this state (a late `delivered` after `open`)
        # is no longer in `before`, and the statement leaves it alone.
        this = DELIVERIES.c.id == row.delivery_id
        moved = DELIVERY.move(db, (*before, S.FAILED), status, this, unknown_if_failed, **values)
        if moved and row.delivery_id is not None:  # a click or a bounce may move an order's credit
            attribution.reattribute_after(db, row.delivery_id, now=row.received_at)
    if email and postmark:
        postmark_events.reach_address(
            db, row.type, event, email, occurred_at=row.occurred_at, settings=settings
        )
    elif email:
        _reach_address(db, row.type, event, email, occurred=row.occurred_at, settings=settings)


def _recipient(db: Session, delivery_id: int | None) -> str | None:
    """The address of the customer a delivery of ours went to; None for no such delivery."""
    if delivery_id is None:
        return None
    return db.scalar(
        select(col(Customer.email))
        .join(Delivery, col(Delivery.customer_id) == col(Customer.id))
        .where(col(Delivery.id) == delivery_id)
    )


def _reach_address(
    db: Session,
    kind: str,
    event: dict[str, Any],
    email: str,
    *,
    occurred: datetime,
    settings: Settings,
) -> None:
    reason = str(event.get("reason", ""))
    if kind == "bounce" and event.get("type") != "blocked":  # `blocked` is soft: try later
        suppress(db, email, f"bounce: {reason}", now=occurred)
    elif kind == "dropped" and reason.lower().startswith(_DROPPED_SUPPRESSES):
        suppress(db, email, f"dropped: {reason}", now=occurred)
    elif kind in ("spamreport", "unsubscribe"):
        suppress(db, email, kind, now=occurred)
        _leave(db, email, "marketing", occurred)
    elif kind == "group_unsubscribe":
        group = _int_or_none(event.get("asm_group_id"))
        for message_class in MESSAGE_CLASSES:
            if group is not None and settings.sendgrid_group(message_class) == group:
                _leave(db, email, message_class, occurred)


def _leave(db: Session, email: str, message_class: str, occurred: datetime) -> None:
    customer = db.scalars(select(Customer).where(col(Customer.email) == email)).one_or_none()
    if customer is not None:
        set_preference(db, customer, message_class, wanted=False, source=PROVIDER, now=occurred)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
