"""Tiers: by the last 12 months' spend or points. A member moves up as soon as an order lifts
them; they move down only from the clock's daily review, after `downgrade_grace` below their
tier. Every move is a compare-and-set on the member's `tier_version`, which names its
`tier.changed` event (`tier.changed:<customer>:<version>`), so a rerun moves and tells once.
The grace's start is told too (`tier.at_risk`), once per grace, so a member can keep their tier."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlmodel import Session

from models import EntryKind
from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, LOYALTY_ENTRIES, LOYALTY_MEMBERS, ORDERS
from models.types import UTCDateTime, minor_digits, one_of
from triggers.programme import Programme, Tier
from worker.loyalty import notices
from worker.loyalty.ledger import Member, lock_member, lock_members

E = LOYALTY_ENTRIES.c
M = LOYALTY_MEMBERS.c
O = ORDERS.c  # noqa: E741


def qualifying(
    db: Session, programme: Programme, customer_id: int, *, currency: str, now: datetime
) -> Decimal:
    """The customer's spend (major units of the shop's currency, net of refunds, cancelled
    orders not counted) or points earned over the programme's tier period up to `now`."""
    return qualifying_many(db, programme, [customer_id], currency=currency, now=now)[customer_id]


def qualifying_many(
    db: Session, programme: Programme, customer_ids: Iterable[int], *, currency: str, now: datetime
) -> dict[int, Decimal]:
    """`qualifying` for many customers in one query."""
    ids = sorted(set(customer_ids))
    values = {"member_ids": ids, "since": now - programme.tier_period}
    by_points = programme.tiers_by == "points"
    found = dict(db.execute(_points_since() if by_points else _spend_since(), values).all())
    digits = 0 if by_points else minor_digits(currency)
    return {i: Decimal(int(found.get(i) or 0)).scaleb(-digits) for i in ids}


@cache
def _spend_since() -> Any:
    return (
        select(O.customer_id, func.sum(O.shop_total - O.shop_refunded))
        .where(
            one_of(O.customer_id, "member_ids"),
            O.placed_at >= bindparam("since", type_=UTCDateTime()),
            O.status.not_in([status.value for status in UNCOUNTED_STATUSES]),
        )
        .group_by(O.customer_id)
    )


@cache
def _points_since() -> Any:
    earning = [EntryKind.EARN.value, EntryKind.CLAWBACK.value]
    return (
        select(E.customer_id, func.sum(E.points + E.pending))
        .where(
            one_of(E.customer_id, "member_ids"),
            E.created_at >= bindparam("since", type_=UTCDateTime()),
            E.kind.in_(earning),
        )
        .group_by(E.customer_id)
    )


@dataclass(frozen=True)
class Move:
    customer_id: int
    old: str | None
    new: str
    direction: str  # "up" or "down"


def _rank(programme: Programme, name: str | None) -> int:
    names = [tier.name for tier in programme.tier]
    return names.index(name) if name in names else -1


def review(
    db: Session,
    programme: Programme,
    member: Member,
    *,
    email: str,
    currency: str,
    now: datetime,
    downgrade: bool,
) -> Move | None:
    """Places a locked member in the tier their qualifying value reaches: up at once; down
    (with `downgrade`, the daily review) only once they have been below their tier for the
    grace period, which starts the first time a review finds them below it."""
    if not programme.tier:
        return None
    figure = qualifying(db, programme, member.customer_id, currency=currency, now=now)
    reached = programme.tier_for(figure)
    assert reached is not None  # the first tier starts at 0: the programme file says so
    current = _rank(programme, member.tier)
    target = _rank(programme, reached.name)
    if target > current:
        return _move(db, programme, member, reached, email=email, now=now)
    if target == current or not downgrade:
        if member.below_since is not None and target == current:
            db.execute(_below(), {"member_id": member.customer_id, "since": None})
        return None
    if member.below_since is None:
        db.execute(_below(), {"member_id": member.customer_id, "since": now})
        _warn_at_risk(db, programme, member, figure, email=email, now=now)
        return None
    if now - member.below_since < programme.downgrade_grace:
        return None
    return _move(db, programme, member, reached, email=email, now=now)


def _warn_at_risk(
    db: Session,
    programme: Programme,
    member: Member,
    figure: Decimal,
    *,
    email: str,
    now: datetime,
) -> None:
    """`tier.at_risk` as the grace starts: the member keeps their tier if their figure is back
    at its threshold by `grace_ends`. Named by the tier's version and the grace's start, so a
    rerun tells none, and a new grace (after they were back at their tier) tells again."""
    tier = programme.named_tier(member.tier)
    if tier is None:
        return  # a tier the programme file no longer has: the review moves them at once
    notices.announce(
        db,
        event_type="tier.at_risk",
        key=f"{member.customer_id}:{member.tier_version}:{now:%Y%m%dT%H%M%S}",
        customer_id=member.customer_id,
        email=email,
        data={
            "tier": tier.name,
            "tiers_by": programme.tiers_by,
            # Spend in major units of the shop's currency (a decimal string), or points.
            "figure": _plain(figure),
            "threshold": _plain(tier.threshold),
            "to_keep": _plain(max(Decimal(0), tier.threshold - figure)),
            "grace_ends": (now + programme.downgrade_grace).isoformat(),
        },
        now=now,
    )


def _plain(value: Decimal) -> str:
    """A JSON-safe decimal without an exponent ("250", "37.4")."""
    return format(value.normalize(), "f") if value else "0"


def _move(
    db: Session, programme: Programme, member: Member, tier: Tier, *, email: str, now: datetime
) -> Move | None:
    moved = _move_many(db, programme, [(member, tier)], {member.customer_id: email}, now=now)
    return moved[0] if moved else None


def _move_many(
    db: Session,
    programme: Programme,
    moving: Sequence[tuple[Member, Tier]],
    emails: Mapping[int, str],
    *,
    now: datetime,
) -> list[Move]:
    """Moves each member to their tier by a compare-and-set on the version they were read
    at, one statement for those going to the same tier from the same version; a member
    another worker moved first is left to that worker. Tells each move that is news."""
    groups: dict[tuple[str, int], dict[int, Member]] = {}
    for member, tier in moving:
        groups.setdefault((tier.name, member.tier_version), {})[member.customer_id] = member
    moves, told = [], []
    for (name, seen), members in groups.items():
        values = {"member_ids": sorted(members), "seen": seen, "tier": name, "now": now}
        for customer_id, version in db.execute(_set_tier(), values).all():
            member = members[customer_id]
            up = _rank(programme, name) > _rank(programme, member.tier)
            move = Move(customer_id, member.tier, name, "up" if up else "down")
            moves.append(move)
            # A first order places a customer in the first tier: joining, not news.
            if member.tier is not None or _rank(programme, name) > 0:
                told.append(
                    notices.notice(
                        event_type="tier.changed",
                        key=f"{customer_id}:{version}",
                        customer_id=customer_id,
                        email=emails[customer_id],
                        data={"from": member.tier, "to": name, "direction": move.direction},
                        now=now,
                    )
                )
    if told:
        notices.announce_many(db, told)
    return sorted(moves, key=lambda move: move.customer_id)


@cache
def _set_tier() -> Any:
    return (
        update(LOYALTY_MEMBERS)
        .where(
            one_of(M.customer_id, "member_ids"),
            M.tier_version == bindparam("seen"),
        )
        .values(
            tier=bindparam("tier"),
            tier_version=M.tier_version + 1,
            tier_since=bindparam("now", type_=UTCDateTime()),
            below_since=None,
        )
        .returning(M.customer_id, M.tier_version)
    )


@cache
def _below() -> Any:
    return (
        update(LOYALTY_MEMBERS)
        .where(M.customer_id == bindparam("member_id"))
        .values(below_since=bindparam("since", type_=UTCDateTime()))
    )


def review_after_orders(
    db: Session,
    programme: Programme,
    customers: Iterable[tuple[int, str]],
    *,
    currency: str,
    now: datetime,
    members: Mapping[int, Member] | None = None,
) -> list[Move]:
    """Moves up the customers (id, email) whose orders just lifted them, and ends the grace of
    those back at their tier's threshold: a few statements for the lot, the members locked in
    customer order (`members`, if the caller locked them already). Returns the moves, in
    customer order."""
    if not programme.tier:
        return []
    emails = dict(sorted(set(customers)))
    if members is None:
        members = lock_members(db, emails)
    figures = qualifying_many(db, programme, emails, currency=currency, now=now)
    moving, back = [], []
    for customer_id in emails:
        member = members[customer_id]
        reached = programme.tier_for(figures[customer_id])
        assert reached is not None  # the first tier starts at 0: the programme file says so
        target, current = _rank(programme, reached.name), _rank(programme, member.tier)
        if target > current:
            moving.append((member, reached))
        elif target == current and member.below_since is not None:
            back.append({"member_id": customer_id, "since": None})
    if back:
        db.execute(_below(), back)
    return _move_many(db, programme, moving, emails, now=now)


def review_all(db: Session, programme: Programme, *, currency: str, now: datetime) -> list[Move]:
    """The daily review of every member: up, down after the grace, or the grace started or
    ended. One query finds the members whose tier the figure no longer matches, or whose
    grace runs (at a million members a few thousand, not the million); each of those whose
    tier or grace would change is locked and reviewed again, alone, in a transaction of its
    own."""
    if not programme.tier:
        return []
    moves = []
    digits = minor_digits(currency)
    for customer_id, tier, below_since, email, value in db.execute(
        _off_their_tier(programme, digits=digits, since=now - programme.tier_period)
    ).all():
        figure = Decimal(int(value))
        reached = programme.tier_for(
            figure if programme.tiers_by == "points" else figure.scaleb(-digits)
        )
        target = _rank(programme, reached.name if reached else None)
        current = _rank(programme, tier)
        if target == current and below_since is None:
            continue  # where they belong (moved up by an order since the query)
        waiting = below_since is not None and now - below_since < programme.downgrade_grace
        if target < current and waiting:
            continue  # below their tier, and still within the grace
        member = lock_member(db, customer_id)
        move = review(
            db, programme, member, email=email, currency=currency, now=now, downgrade=True
        )
        if move is not None:
            moves.append(move)
        db.commit()
    return moves


def _off_their_tier(programme: Programme, *, digits: int, since: datetime) -> Any:
    """Members (id, tier, below_since, email, figure) whose figure reaches another tier than
    theirs, or whose grace has started: the figure in points, or in minor units of spend."""
    if programme.tiers_by == "points":
        earning = [EntryKind.EARN.value, EntryKind.CLAWBACK.value]
        figures = select(E.customer_id, func.sum(E.points + E.pending).label("value")).where(
            E.created_at >= bindparam("since", since, type_=UTCDateTime()), E.kind.in_(earning)
        )
        scale = 0
    else:
        figures = select(
            O.customer_id, func.sum(O.shop_total - O.shop_refunded).label("value")
        ).where(
            O.placed_at >= bindparam("since", since, type_=UTCDateTime()),
            O.status.not_in([status.value for status in UNCOUNTED_STATUSES]),
        )
        scale = digits
    found = figures.group_by(figures.selected_columns[0]).subquery("figures")
    value = func.coalesce(found.c.value, 0)
    reached = case(
        *(
            (value >= math.ceil(tier.threshold.scaleb(scale)), tier.name)
            for tier in reversed(programme.tier)
        ),
        else_=None,
    )
    return (
        select(M.customer_id, M.tier, M.below_since, CUSTOMERS.c.email, value)
        .join(CUSTOMERS, CUSTOMERS.c.id == M.customer_id)
        .outerjoin(found, found.c.customer_id == M.customer_id)
        .where(or_(reached.is_distinct_from(M.tier), M.below_since.is_not(None)))
        .order_by(M.customer_id)
    )
