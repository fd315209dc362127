"""The frequency budget: how many marketing emails a customer may get per day and per week.

Checked at send time. Over budget, a delivery waits for the first moment the budget allows
(a higher-priority one due at the same time goes first), up to its trigger's maximum lateness,
and only then is skipped, with the reason. Transactional email is never counted or deferred.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, union_all
from sqlmodel import Session

from models import DeliveryStatus
from models.tables import DELIVERIES
from models.types import UTCDateTime, none_of, one_of
from worker.limits import Budget

MARKETING = "marketing"


@dataclass(frozen=True)
class Decision:
    """Over budget: send at `send_at`, or skip when that is None; `reason` says which."""

    send_at: datetime | None
    reason: str


def taken(
    db: Session,
    *,
    customer_id: int,
    delivery_id: int,
    priority: int,
    now: datetime,
    since: datetime,
    settled: Mapping[int, str] | None = None,
) -> list[datetime]:
    """The budget this customer has used since `since`, as send times: marketing sent, and
    marketing due now that goes before this delivery (higher priority, or equal and older).

    `settled`: deliveries of this session's batch already decided (id → new status) whose
    rows still say `sending` until the batch writes them: sent ones count, others do not.
    """
    settled = settled or {}
    sent = [i for i, status in settled.items() if status == DeliveryStatus.SENT.value]
    refused = [i for i, status in settled.items() if status != DeliveryStatus.SENT.value]
    rows = db.execute(
        _taken(),
        {
            "customer_id": customer_id,
            "delivery_id": delivery_id,
            "priority": priority,
            "now": now,
            "since": since,
            "sent_in_batch": sent,
            "refused_in_batch": refused,
        },
    ).scalars()
    return [moment if moment is not None else now for moment in rows]


def candidates(
    db: Session, customer_ids: Collection[int], *, now: datetime, since: datetime
) -> dict[int, frozenset[int]]:
    """Customer id → the ids of their marketing deliveries that `taken` could count at `now`
    (for any of their deliveries, whatever is settled): sent since `since`, or due and not yet
    sent. One query for a batch: a customer with fewer than the budget allows has room,
    without `taken` (`Budget.has_room`)."""
    found: dict[int, set[int]] = {customer_id: set() for customer_id in customer_ids}
    if not found:
        return {}
    rows = db.execute(_candidates(), {"customer_ids": sorted(found), "now": now, "since": since})
    for customer_id, delivery_id in rows:
        found[customer_id].add(delivery_id)
    return {customer_id: frozenset(ids) for customer_id, ids in found.items()}


@cache
def _candidates() -> Any:
    c = DELIVERIES.c
    now = bindparam("now", type_=UTCDateTime())
    return select(c.customer_id, c.id).where(
        one_of(c.customer_id, "customer_ids"),
        c.message_class == MARKETING,
        or_(
            and_(c.sent_at > bindparam("since", type_=UTCDateTime()), c.sent_at <= now),
            and_(
                c.status.in_([DeliveryStatus.SCHEDULED.value, DeliveryStatus.SENDING.value]),
                c.send_at <= now,
            ),
        ),
    )


@cache
def _taken() -> Any:
    c = DELIVERIES.c
    now = bindparam("now", type_=UTCDateTime())
    mine = and_(c.customer_id == bindparam("customer_id"), c.message_class == MARKETING)
    sent = select(c.sent_at).where(
        mine, c.sent_at > bindparam("since", type_=UTCDateTime()), c.sent_at <= now
    )
    priority: Any = bindparam("priority")
    goes_first = or_(
        c.priority > priority, and_(c.priority == priority, c.id < bindparam("delivery_id"))
    )
    ahead = select(c.sent_at).where(
        mine,
        c.status.in_([DeliveryStatus.SCHEDULED.value, DeliveryStatus.SENDING.value]),
        c.send_at <= now,
        c.id != bindparam("delivery_id"),
        or_(
            one_of(c.id, "sent_in_batch"),
            and_(none_of(c.id, "refused_in_batch"), goes_first),
        ),
    )
    return union_all(sent, ahead)


def decide(
    budget: Budget,
    taken_times: Sequence[datetime],
    *,
    now: datetime,
    due_at: datetime,
    max_lateness: timedelta,
    settle: Any = None,
) -> Decision | None:
    """None when the budget has room now; else when to try again, or to skip.

    `settle` moves the allowed moment into the send window (quiet hours), if given.
    """
    allowed, rule = budget.next_allowed(taken_times, now=now)
    if allowed <= now:
        return None
    if settle is not None:
        allowed = settle(allowed)
    latest = due_at + max_lateness
    if allowed > latest:
        return Decision(
            None,
            f"budget ({rule} marketing): no room before {latest:%Y-%m-%d %H:%M} UTC,"
            " its max lateness",
        )
    return Decision(
        allowed, f"deferred by the budget ({rule} marketing) to {allowed:%Y-%m-%d %H:%M} UTC"
    )
