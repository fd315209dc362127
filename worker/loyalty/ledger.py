"""The points ledger: append-only entries, each unique by its cause, and the member's balances
moved by the same transaction that appends one, so a balance is always the sum of its ledger.

What orders earn and give back is `order_points.py`; the clock's sweeps approve and lapse
(`sweeps.py`); the shop corrects (`adjust`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlmodel import Session

from models import EntryKind
from models.db import dialect_insert, insert_ignoring_duplicates
from models.tables import LOYALTY_ENTRIES, LOYALTY_MEMBERS
from models.types import one_of

logger = logging.getLogger(__name__)

E = LOYALTY_ENTRIES.c
M = LOYALTY_MEMBERS.c
# What makes a member: points of their own, not a refusal or a correction by the shop.
JOINING_KINDS = (EntryKind.EARN.value, EntryKind.ACTION.value)


@dataclass(frozen=True)
class Member:
    customer_id: int
    points: int  # spendable
    pending: int  # waiting for their orders' return windows
    tier: str | None
    tier_version: int
    below_since: datetime | None
    # False until points of their own (an earn or an action): a refusal or a correction by
    # the shop first does not make them a member, and their first points still welcome them.
    joined: bool = True


def lock_member(db: Session, customer_id: int) -> Member:
    """The customer's member row, created at zero if new, locked (PostgreSQL) until the
    transaction ends: whoever reads a balance to decide an entry holds it. `joined`
    comes in the same statement, so a round knows its newcomers without a query more."""
    return lock_members(db, [customer_id])[customer_id]


def lock_members(db: Session, customer_ids: Iterable[int]) -> dict[int, Member]:
    """`lock_member` for many customers in two statements, locked in customer order (the
    one lock order every worker uses): a round's members, not a query each."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    dialect = db.get_bind().dialect.name
    db.execute(_create_member(dialect), [{"member_id": i} for i in ids])
    rows = db.execute(_locked_members(dialect), {"member_ids": ids})
    return {row.customer_id: Member(**row._asdict()) for row in rows}


@cache
def _create_member(dialect: str) -> Any:
    values = {"customer_id": bindparam("member_id"), "points": 0, "pending": 0}
    return (
        dialect_insert(dialect)(LOYALTY_MEMBERS)
        .values(**values, tier_version=0)
        .on_conflict_do_nothing()
    )


def _joined() -> Any:
    earned = exists().where(E.customer_id == M.customer_id, E.kind.in_(JOINING_KINDS))
    return earned.label("joined")


@cache
def _locked_members(dialect: str) -> Any:
    statement = (
        select(
            M.customer_id, M.points, M.pending, M.tier, M.tier_version, M.below_since,
            _joined(),
        )
        .where(one_of(M.customer_id, "member_ids"))
        .order_by(M.customer_id)
    )  # fmt: skip
    # PostgreSQL locks the rows as they leave the sort: in customer order.
    return statement.with_for_update() if dialect == "postgresql" else statement


def append(
    db: Session,
    *,
    customer_id: int,
    cause: str,
    kind: EntryKind,
    now: datetime,
    points: int = 0,
    pending: int = 0,
    order_id: int | None = None,
    reason: str | None = None,
    available_at: datetime | None = None,
) -> int | None:
    """Appends one entry and moves the member's balances by it, unless its cause is in the
    ledger already: then nothing changes and it returns None (another worker, or an earlier
    run of the same event, got there first). Returns the new entry's id."""
    row = entry_row(customer_id, cause, kind, now, points=points, pending=pending,
                    order_id=order_id, reason=reason, available_at=available_at)  # fmt: skip
    inserted = insert_ignoring_duplicates(db, LOYALTY_ENTRIES, [row], E.id)
    if not inserted:
        return None
    db.execute(_move_balances(), {"member_id": customer_id, "dp": points, "dq": pending})
    return int(inserted[0])


def entry_row(
    customer_id: int,
    cause: str,
    kind: EntryKind,
    now: datetime,
    *,
    points: int = 0,
    pending: int = 0,
    order_id: int | None = None,
    reason: str | None = None,
    available_at: datetime | None = None,
) -> dict[str, Any]:
    """One `loyalty_entries` row, for `append` or `append_many`."""
    return {
        "customer_id": customer_id,
        "cause": cause[:300],
        "kind": kind.value,
        "points": points,
        "pending": pending,
        "order_id": order_id,
        "reason": reason,
        "created_at": now,
        "available_at": available_at,
    }


def append_many(db: Session, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`append` for many entries of members the caller has locked: one insert, and each
    member's balances moved by the sum of their entries actually inserted (a cause already
    in the ledger moves nothing). Returns the rows inserted."""
    added = set(insert_ignoring_duplicates(db, LOYALTY_ENTRIES, rows, E.cause))
    inserted = [row for row in rows if row["cause"] in added]
    moves: dict[int, list[int]] = {}
    for row in inserted:
        move = moves.setdefault(row["customer_id"], [0, 0])
        move[0] += row["points"]
        move[1] += row["pending"]
    if moves:
        db.execute(
            _move_balances(),
            [{"member_id": cid, "dp": dp, "dq": dq} for cid, (dp, dq) in sorted(moves.items())],
        )
    return inserted


@cache
def _move_balances() -> Any:
    return (
        update(LOYALTY_MEMBERS)
        .where(M.customer_id == bindparam("member_id"))
        .values(points=M.points + bindparam("dp"), pending=M.pending + bindparam("dq"))
    )


def adjust(
    db: Session, *, customer_id: int, points: int, reason: str, key: str, now: datetime
) -> int | None:
    """A person's correction of the balance, with its reason; `key` names the request, so a
    retried command adjusts once. Returns the entry's id, None if `key` was used before."""
    lock_member(db, customer_id)
    return append(
        db,
        customer_id=customer_id,
        cause=f"adjust:{key}",
        kind=EntryKind.ADJUST,
        points=points,
        reason=reason,
        now=now,
    )


@dataclass(frozen=True)
class Statement:
    member: Member | None
    entries: list[Any]  # rows of `loyalty_entries`, oldest first


def statement_of(db: Session, customer_id: int, *, entries: bool = True) -> Statement:
    """The customer's balances, tier and (with `entries`) every entry of their ledger."""
    row = db.execute(
        select(
            M.customer_id,
            M.points,
            M.pending,
            M.tier,
            M.tier_version,
            M.below_since,
            _joined(),
        ).where(M.customer_id == customer_id)
    ).first()
    found = (
        list(db.execute(select(LOYALTY_ENTRIES).where(E.customer_id == customer_id).order_by(E.id)))
        if entries
        else []
    )
    return Statement(Member(**row._asdict()) if row else None, found)
