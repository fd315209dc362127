"""Points for actions (`[[action]]`): a review posted, a follow, a referral, a birthday, a
sign-up, a survey answered, as the shop's apps tell them through `POST /events`.

Each event earns once: its entry's cause is `action:<type>:<event id>`, inserted or not like
every ledger entry, and the balance moves in the same statement pair. An action's `limit`
(`1 per 30d`) is counted from the ledger itself, after the member lock, so two workers cannot
both earn the last one; an earn over the limit is an entry too, of kind `refused`, with no
points and its reason, so `ladder loyalty statement` shows why nothing came.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from models import EntryKind
from models.tables import LOYALTY_ENTRIES
from models.types import UTCDateTime
from triggers.programme import Programme
from triggers.programme_actions import Action
from triggers.schema import format_duration
from worker.loyalty import ledger, notices

E = LOYALTY_ENTRIES.c


@dataclass(frozen=True)
class ActionSeen:
    """An event of a round that may earn action points or sweepstake entries."""

    event_id: int  # the stored event's id: the cause every entry it makes names
    event_type: str
    occurred_at: datetime
    customer_id: int
    email: str


def seen_in(programme: Programme, events: Sequence[ActionSeen]) -> list[ActionSeen]:
    """The events the programme answers: an `[[action]]` on their type, or a sweepstake
    they enter."""
    wanted = {action.on for action in programme.action}
    for sweepstake in programme.sweepstake:
        wanted.update(sweepstake.entries)
    return [item for item in events if item.event_type in wanted]


def earn_for_actions(
    db: Session, programme: Programme, seen: Sequence[ActionSeen], *, now: datetime
) -> int:
    """Earns each event's action points, or records why not; returns how many earned.
    Members must be locked already (`rounds.apply_round` locks a round's in customer order)."""
    earned = 0
    for item in sorted(seen, key=lambda s: (s.customer_id, s.event_id)):
        action = programme.action_on(item.event_type)
        if action is not None:
            earned += _earn(db, programme, action, item, now=now)
    return earned


def _earn(
    db: Session, programme: Programme, action: Action, item: ActionSeen, *, now: datetime
) -> bool:
    member = ledger.lock_member(db, item.customer_id)  # locked already: this only reads it
    cause = f"action:{action.on}:{item.event_id}"
    reason = _over_limit(db, action, item)
    if reason is not None:
        ledger.append(
            db,
            customer_id=item.customer_id,
            cause=cause,
            kind=EntryKind.REFUSED,
            reason=reason,
            available_at=item.occurred_at,
            now=now,
        )
        return False
    tier = programme.named_tier(member.tier) if action.tier_multiplier else None
    multiplier = tier.multiplier if tier is not None else Decimal(1)
    points = int((action.points * multiplier).to_integral_value(rounding=ROUND_FLOOR))
    # `available_at` is when the action happened: the limit counts earns by it.
    entry = ledger.append(
        db,
        customer_id=item.customer_id,
        cause=cause,
        kind=EntryKind.ACTION,
        points=points,
        available_at=item.occurred_at,
        now=now,
    )
    if entry is None:
        return False  # this event earned (or was refused) before: a repeat
    notices.announce(
        db,
        event_type="points.earned",
        key=str(entry),
        customer_id=item.customer_id,
        email=item.email,
        data={
            "points": points,
            "order_id": None,
            "available_at": item.occurred_at.isoformat(),
            "action": action.on,
            "first": not member.joined,  # their first points: `loyalty.joined` tells them
        },
        now=now,
    )
    return True


def _over_limit(db: Session, action: Action, item: ActionSeen) -> str | None:
    """Why this event may not earn: `count` earns of the action already lie within `period`
    of it (before or after: events may arrive out of order). None if it may, or if this very
    event is in the ledger already (the repeat is then a no-op in `append`)."""
    if action.limit is None:
        return None
    period = action.limit.period
    found = db.execute(
        _earns_near(),
        {
            "customer_id": item.customer_id,
            "prefix": f"action:{action.on}:%",
            "after": item.occurred_at - period,
            "before": item.occurred_at + period,
        },
    ).scalar_one()
    if int(found) < action.limit.count:
        return None
    return (
        f"over the limit of {action.limit} for {action.on}: {found} earned within"
        f" {format_duration(period)} of this one"
    )


@cache
def _earns_near() -> Any:
    return select(func.count()).where(
        E.customer_id == bindparam("customer_id"),
        E.kind == EntryKind.ACTION.value,
        E.cause.like(bindparam("prefix")),
        E.available_at > bindparam("after", type_=UTCDateTime()),
        E.available_at < bindparam("before", type_=UTCDateTime()),
    )
