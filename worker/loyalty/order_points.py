"""An order's points: the programme's earning event earns once per order, pending until its
return window has passed (`order:<id>:earn`; the clock's sweep approves what is left of it), and
a refund or cancellation takes back the share of the earn its order no longer counts
(`order:<id>:clawback:<state>`, named by the order's state after it, so the same refund told
twice takes back once): from the pending points before approval, from the balance after. A
round's orders go together, in a few statements, on the ledger's entries (`ledger.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from models import EntryKind, OrderStatus
from models.orders import UNCOUNTED_STATUSES
from models.tables import LOYALTY_ENTRIES
from models.types import minor_digits, one_of
from triggers.programme import Programme
from worker.loyalty import membership, notices
from worker.loyalty.ledger import Member, append_many, entry_row, lock_members

E = LOYALTY_ENTRIES.c


@dataclass(frozen=True)
class _OrderEntries:
    earned: int | None  # the earn's points; None if the order has earned nothing yet
    total: int  # what the order's entries add up to, pending and approved
    pending: int  # what of it still waits for approval
    approved: bool


NO_ENTRIES = _OrderEntries(earned=None, total=0, pending=0, approved=False)


def _entries_of_orders(db: Session, order_ids: Iterable[int]) -> dict[int, _OrderEntries]:
    """What each order's entries add up to, in one query; an order without any is absent."""
    sums: dict[int, dict[str, Any]] = {}
    for row in db.execute(_order_sums(), {"order_ids": sorted(set(order_ids))}):
        sums.setdefault(row.order_id, {})[row.kind] = row
    return {order_id: _summed(kinds) for order_id, kinds in sums.items()}


def _summed(kinds: dict[str, Any]) -> _OrderEntries:
    earn = kinds.get(EntryKind.EARN.value)
    total = sum(int(row.points) + int(row.pending) for row in kinds.values())
    earned = int(earn.points) + int(earn.pending) if earn is not None else None
    pending = sum(int(row.pending) for row in kinds.values())
    return _OrderEntries(earned, total, pending, EntryKind.APPROVE.value in kinds)


@cache
def _order_sums() -> Any:
    return (
        select(
            E.order_id,
            E.kind,
            func.sum(E.points).label("points"),
            func.sum(E.pending).label("pending"),
        )
        .where(one_of(E.order_id, "order_ids"))
        .group_by(E.order_id, E.kind)
    )


@dataclass(frozen=True)
class OrderSeen:
    """An order as the event being processed left it, and whose it is."""

    order: Any  # a row with the attributes of `Order`
    event_type: str
    customer_id: int
    email: str


def apply_orders(
    db: Session,
    programme: Programme,
    seen: Sequence[OrderSeen],
    *,
    currency: str,
    now: datetime,
    members: dict[int, Member] | None = None,
) -> None:
    """What each order event does to its customer's points: the programme's earning event
    earns once per order (at the multiplier of the customer's tier then), and an order that
    counts for less than it did (a refund) or no longer (a cancellation) gives back that share.

    Set-based, a few statements for the lot: the members locked in customer order (the one
    lock order every worker uses; `members`, if the caller locked them already), the orders'
    entries read at once, the earns appended together and their `points.earned` stored
    together, then the claw-backs. An order told twice in `seen` is applied twice, in turn.
    """
    ordered = sorted(seen, key=lambda s: (s.customer_id, s.order.id))
    if members is None:
        members = lock_members(db, [item.customer_id for item in ordered])
    while ordered:
        once: list[OrderSeen] = []
        again: list[OrderSeen] = []
        told: set[int] = set()
        for item in ordered:
            (again if item.order.id in told else once).append(item)
            told.add(item.order.id)
        _apply_once(db, programme, once, members, currency=currency, now=now)
        ordered = again


def _apply_once(
    db: Session,
    programme: Programme,
    items: list[OrderSeen],
    members: dict[int, Member],
    *,
    currency: str,
    now: datetime,
) -> None:
    """`apply_orders` for orders each told once, their members locked."""
    entries = _entries_of_orders(db, [item.order.id for item in items])
    paid = membership.earn_multipliers(
        db, programme, [(item.customer_id, item.order.placed_at) for item in items]
    )
    earning = []
    for item, multiplier in zip(items, paid, strict=True):
        if entries.get(item.order.id, NO_ENTRIES).earned is None:
            member = members[item.customer_id]
            row = _earn_row(programme, item, member, multiplier, currency=currency, now=now)
            if row is not None:
                earning.append((item, row))
    added = {row["cause"] for row in append_many(db, [row for _, row in earning])}
    earned = [(item, row) for item, row in earning if row["cause"] in added]
    if len(earned) < len(earning):  # an earn already there: read what it left
        entries.update(_entries_of_orders(db, [item.order.id for item, _ in earning]))
    else:
        for item, row in earned:
            before = entries.get(item.order.id, NO_ENTRIES)
            entries[item.order.id] = _OrderEntries(
                row["pending"], before.total + row["pending"], before.pending + row["pending"],
                before.approved,
            )  # fmt: skip
    notices.announce_many(
        db,
        [
            _earned_notice(item, row, first=not members[item.customer_id].joined, now=now)
            for item, row in earned
        ],
    )
    clawbacks = []
    for item in items:
        found = entries.get(item.order.id)
        if found is not None and found.earned is not None:  # refunded before it earned, too
            row = _claw_back_row(item, found, now=now)
            if row is not None:
                clawbacks.append(row)
    append_many(db, clawbacks)


def _counted(order: Any) -> int:
    """What the order counts for now, in minor units of the shop's currency."""
    if order.status in UNCOUNTED_STATUSES:
        return 0
    return max(0, int(order.shop_total) - int(order.shop_refunded))


def _earn_row(
    programme: Programme,
    item: OrderSeen,
    member: Member,
    paid: Decimal,
    *,
    currency: str,
    now: datetime,
) -> dict[str, Any] | None:
    """The order's earn entry, pending until its return window has passed; None if this event
    or this order earns nothing."""
    if item.event_type != programme.earn.on or item.order.status in UNCOUNTED_STATUSES:
        return None
    tier = programme.named_tier(member.tier)
    multiplier = tier.multiplier if tier else Decimal(1)
    multiplier *= paid  # a paid member's, if the order fell within their period: stacked
    # On the whole order: a refund told before is taken back next, as one told after would be.
    digits = minor_digits(currency)
    points = programme.points_for(int(item.order.shop_total), digits=digits, multiplier=multiplier)
    if points <= 0:
        return None
    return entry_row(
        item.customer_id,
        f"order:{item.order.id}:earn",
        EntryKind.EARN,
        now,
        pending=points,
        order_id=item.order.id,
        available_at=item.order.placed_at + programme.earn.return_window,
    )


def _earned_notice(
    item: OrderSeen, row: dict[str, Any], *, first: bool, now: datetime
) -> dict[str, Any]:
    """`points.earned` for an order's earn, named by the entry's cause (unique in the ledger)."""
    return notices.notice(
        event_type="points.earned",
        key=row["cause"],
        customer_id=item.customer_id,
        email=item.email,
        data={
            "points": row["pending"],
            "order_id": item.order.source_order_id,
            "available_at": row["available_at"].isoformat(),
            "action": None,  # an order's: `worker/loyalty/actions.py` names the action
            "first": first,  # their first points: `loyalty.joined` tells them
        },
        now=now,
    )


def _claw_back_row(
    item: OrderSeen, entries: _OrderEntries, *, now: datetime
) -> dict[str, Any] | None:
    """What the order gives back since it counts for less than it earned on; None if
    nothing (a repeat, or an event that changes no amount)."""
    order = item.order
    earned = entries.earned or 0
    shop_total = int(order.shop_total)
    kept = earned * _counted(order) // shop_total if shop_total else 0
    change = kept - entries.total
    if change >= 0:
        return None
    state = (
        "cancelled"
        if order.status == OrderStatus.CANCELLED
        else f"refunded:{int(order.shop_refunded)}"
    )
    # Before the approval the points are still pending; after it, they come off the balance.
    return entry_row(
        item.customer_id,
        f"order:{order.id}:clawback:{state}",
        EntryKind.CLAWBACK,
        now,
        points=change if entries.approved else 0,
        pending=0 if entries.approved else change,
        order_id=order.id,
    )
