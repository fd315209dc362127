"""`loyalty.joined`: a customer's first points (an order's earn or an action's) make them a
member, told once (`loyalty.joined:<customer>`) with their balances and the programme's name.

The round knows its newcomers from the locks it takes anyway (`Member.joined`), so an
existing member's order costs no statement more; only a round with newcomers reads their rows
again, once, after its entries were appended."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import exists, select
from sqlmodel import Session

from models.tables import LOYALTY_ENTRIES, LOYALTY_MEMBERS
from models.types import one_of
from triggers.programme import Programme
from worker.loyalty import notices
from worker.loyalty.ledger import JOINING_KINDS

E = LOYALTY_ENTRIES.c
M = LOYALTY_MEMBERS.c


def welcome(
    db: Session, programme: Programme, newcomers: Mapping[int, str], *, now: datetime
) -> int:
    """`loyalty.joined` for each of `newcomers` (customer id → email: members whose ledger was
    empty when the round locked them) who now have earned points. Returns how many were new."""
    if not newcomers:
        return 0
    rows = [
        notices.notice(
            event_type="loyalty.joined",
            key=str(row.customer_id),
            customer_id=row.customer_id,
            email=newcomers[row.customer_id],
            data={
                "programme": programme.name,
                "points": int(row.points),
                "pending": int(row.pending),
            },
            now=now,
        )
        for row in db.execute(_joined(), {"members": sorted(newcomers)})
    ]
    return notices.announce_many(db, rows) if rows else 0


@cache
def _joined() -> Any:
    earned = exists().where(E.customer_id == M.customer_id, E.kind.in_(JOINING_KINDS))
    return (
        select(M.customer_id, M.points, M.pending)
        .where(one_of(M.customer_id, "members"), earned)
        .order_by(M.customer_id)
    )
