"""Points given to a cause (`[[cause]]`, TOMS's idea): a ledger entry spends them, its
`reason` naming the cause, so the running total per cause is a sum over the ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from models import EntryKind
from models.tables import LOYALTY_ENTRIES
from triggers.programme import Programme
from worker.loyalty import ledger

E = LOYALTY_ENTRIES.c
MAX_DONATION = 10_000_000


class DonationRefused(Exception):
    """A donation that cannot be made, and why, in words a customer can read."""


def donate(
    db: Session,
    programme: Programme,
    *,
    customer_id: int,
    cause: str,
    points: int,
    key: str,
    now: datetime,
) -> int | None:
    """Spends `points` of the member's balance on `cause` (`donate:<key>`: a request sent
    twice gives once). Returns the entry's id, None if `key` was used before. Raises
    DonationRefused for a cause the programme has not, or more points than the balance."""
    if programme.named_cause(cause) is None:
        have = ", ".join(c.name for c in programme.cause) or "none"
        raise DonationRefused(f"no cause is called {cause!r} (the programme has: {have})")
    if not 0 < points <= MAX_DONATION:
        raise DonationRefused(f"give between 1 and {MAX_DONATION} points")
    member = ledger.lock_member(db, customer_id)  # the balance checked is the one spent
    if member.points < points:
        raise DonationRefused(f"{points} points asked, {member.points} to spend")
    return ledger.append(
        db,
        customer_id=customer_id,
        cause=f"donate:{key}",
        kind=EntryKind.DONATE,
        points=-points,
        reason=cause,
        now=now,
    )


def totals(db: Session, programme: Programme) -> list[tuple[str, str, int, int]]:
    """(name, title, points given, donors) of every cause of the programme, in file order."""
    query = (
        select(
            E.reason, func.coalesce(func.sum(-E.points), 0), func.count(E.customer_id.distinct())
        )
        .where(E.kind == EntryKind.DONATE.value)
        .group_by(E.reason)
    )
    given = {reason: (int(points), int(donors)) for reason, points, donors in db.execute(query)}
    return [(cause.name, cause.title, *given.get(cause.name, (0, 0))) for cause in programme.cause]
