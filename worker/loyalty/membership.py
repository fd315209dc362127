"""Paid memberships: the `membership.*` events (a Stripe subscription, read by
`sources/stripe.py`) keep one row per customer current, in the transaction that processes
them; the row says whether the member's benefits apply at a time, and what `loyalty.membership`
shows.

The events may come in any order and more than once: a status is taken only from an event at
least as new as the one that set it, and the period only moves forward, so an old event told
late, or told again, changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from models import MembershipStatus
from models.db import dialect_insert
from models.tables import LOYALTY_MEMBERSHIPS
from triggers.membership import Membership
from triggers.programme import Programme

S = LOYALTY_MEMBERSHIPS.c
EVENTS = ("membership.started", "membership.updated", "membership.paid", "membership.ended")
# Stripe's subscription statuses, as the membership counts them.
STATUSES = {
    "active": MembershipStatus.ACTIVE,
    "trialing": MembershipStatus.ACTIVE,
    "past_due": MembershipStatus.PAST_DUE,
    "unpaid": MembershipStatus.PAST_DUE,
    "incomplete": MembershipStatus.PAST_DUE,
    "canceled": MembershipStatus.CANCELLED,
    "incomplete_expired": MembershipStatus.CANCELLED,
    "paused": MembershipStatus.CANCELLED,
}
# The names of `loyalty.membership` (None for a customer who never subscribed).
NAMES = ("plan", "status", "active", "active_until", "renews", "multiplier", "free_shipping")


@dataclass(frozen=True)
class Seen:
    """What one membership event tells."""

    at: datetime  # when it happened (the platform's time)
    status: MembershipStatus | None
    subscription_id: str | None
    plan: str | None
    renews: bool | None
    period_start: datetime | None
    period_end: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


def seen_of(event_type: str, occurred_at: datetime, data: Mapping[str, Any]) -> Seen:
    """Reads a canonical membership event's data (Stripe's fields, epoch seconds)."""
    is_subscription = data.get("object", "subscription") == "subscription"
    if event_type == "membership.paid":
        status: MembershipStatus | None = MembershipStatus.ACTIVE
    elif event_type == "membership.ended":
        status = MembershipStatus.CANCELLED
    else:
        status = STATUSES.get(str(data.get("status")))
    cancelled = status == MembershipStatus.CANCELLED
    ended = (_time(data.get("ended_at")) or occurred_at) if cancelled else None
    renews = data.get("cancel_at_period_end")
    return Seen(
        at=occurred_at,
        status=status,
        subscription_id=_text(data.get("id") if is_subscription else data.get("subscription")),
        plan=_text(data.get("plan")),
        renews=None if renews is None else not bool(renews),
        period_start=_time(data.get("period_start")),
        period_end=_time(data.get("period_end") or data.get("current_period_end")),
        started_at=_time(data.get("start_date")),
        ended_at=ended,
    )


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _text(value: Any) -> str | None:
    return str(value)[:255] if isinstance(value, str) and value else None


def merged(old: Mapping[Any, Any] | None, seen: Seen) -> dict[str, Any]:
    """The row after `seen`: its status (and plan, renewal) if it is at least as new as the
    status's event, or brings a later period to a lapsed row; the later period of the two;
    the earliest start; a plan or subscription the row did not know yet."""
    row: dict[str, Any] = dict(old) if old is not None else {"status_at": seen.at, "renews": True}
    advanced = seen.period_end is not None and (
        row.get("period_end") is None or seen.period_end > row["period_end"]
    )
    if advanced:
        row["period_start"], row["period_end"] = seen.period_start, seen.period_end
    lapsed = row.get("status") == MembershipStatus.LAPSED.value
    newer = old is None or seen.at >= row["status_at"] or (lapsed and advanced)
    if newer and seen.status is not None:
        row["status"], row["status_at"] = seen.status.value, max(seen.at, row["status_at"])
        row["ended_at"] = seen.ended_at  # None again for a member who came back
    for name in ("subscription_id", "plan", "renews"):
        # An older event still fills in what the newer ones did not say (an invoice no plan).
        if getattr(seen, name) is not None and (newer or row.get(name) is None):
            row[name] = getattr(seen, name)
    row.setdefault("status", (seen.status or MembershipStatus.PAST_DUE).value)
    starts = [t for t in (row.get("started_at"), seen.started_at, seen.at) if t is not None]
    row["started_at"] = min(starts)
    return row


def apply_events(db: Session, seen: Iterable[tuple[int, Seen]]) -> None:
    """Applies each (customer id, what the event tells) to the customer's membership row,
    locked (PostgreSQL) while it is read and written. A paid invoice of no subscription (a
    one-off purchase through Stripe) makes no membership: its period has ended when it is
    paid, and the lapse sweep would tell a customer who never joined that they lapsed."""
    dialect = db.get_bind().dialect.name
    for customer_id, item in seen:
        if item.subscription_id is None:
            continue  # a one-off invoice, of no subscription: a purchase, not a membership
        old = db.execute(_locked(dialect), {"b_customer": customer_id}).mappings().first()
        row = merged(old, item)
        row.pop("customer_id", None)
        if old is None:
            inserted = db.execute(
                _insert(dialect), [{"customer_id": customer_id, **_columns(row)}]
            ).first()
            if inserted is not None:
                continue
            # Another worker made the row first: merge into theirs.
            old = db.execute(_locked(dialect), {"b_customer": customer_id}).mappings().one()
            row = merged(old, item)
            row.pop("customer_id", None)
        db.execute(
            update(LOYALTY_MEMBERSHIPS).where(S.customer_id == customer_id).values(**_columns(row))
        )


def _columns(row: Mapping[str, Any]) -> dict[str, Any]:
    names = (
        "subscription_id",
        "plan",
        "status",
        "status_at",
        "renews",
        "period_start",
        "period_end",
        "started_at",
        "ended_at",
    )
    return {name: row.get(name) for name in names}


@cache
def _locked(dialect: str) -> Any:
    statement = select(LOYALTY_MEMBERSHIPS).where(S.customer_id == bindparam("b_customer"))
    return statement.with_for_update() if dialect == "postgresql" else statement


@cache
def _insert(dialect: str) -> Any:
    return (
        dialect_insert(dialect)(LOYALTY_MEMBERSHIPS)
        .on_conflict_do_nothing()
        .returning(S.customer_id)
    )


def is_active(row: Any, membership: Membership, *, at: datetime) -> bool:
    """Whether the member's benefits apply at `at`: a plan the programme counts, and within
    the paid period (a payment due: and its grace; cancelled: only to the period's end)."""
    if row is None or row.period_end is None or row.status == MembershipStatus.LAPSED.value:
        return False
    if membership.plans and row.plan not in membership.plans:
        return False
    grace = timedelta(0) if row.status == MembershipStatus.CANCELLED.value else membership.grace
    return bool(at < row.period_end + grace)


def membership_of(db: Session, customer_id: int) -> Any:
    """The customer's membership row, None if they never subscribed."""
    return db.execute(select(LOYALTY_MEMBERSHIPS).where(S.customer_id == customer_id)).first()


def earn_multipliers(
    db: Session, programme: Programme, orders: Sequence[tuple[int, datetime]]
) -> list[Decimal]:
    """The membership's earn multiplier for each (customer, order time): 1 for a non-member,
    or one whose period did not hold the order. One query for them all, none without a paid
    multiplier."""
    membership = programme.membership
    if membership is None or membership.multiplier == 1 or not orders:
        return [Decimal(1)] * len(orders)
    ids = sorted({customer_id for customer_id, _ in orders})
    rows = {row.customer_id: row for row in db.execute(
        select(LOYALTY_MEMBERSHIPS).where(S.customer_id.in_(ids)))}  # fmt: skip
    return [
        membership.multiplier if is_active(rows.get(customer_id), membership, at=at) else Decimal(1)
        for customer_id, at in orders
    ]


def membership_view(
    db: Session, programme: Programme, customer_id: int, *, now: datetime
) -> dict[str, Any] | None:
    """`loyalty.membership`: the plan, the status, whether the benefits apply now and until
    when (the period's end), and the benefits; None for a customer who never subscribed."""
    membership = programme.membership
    row = membership_of(db, customer_id)
    if membership is None or row is None:
        return None
    active = is_active(row, membership, at=now)
    return {
        "plan": row.plan,
        "status": row.status,
        "active": active,
        "active_until": row.period_end,
        "renews": bool(row.renews) and row.status != MembershipStatus.CANCELLED.value,
        "multiplier": membership.multiplier,
        "free_shipping": membership.free_shipping and active,
    }
