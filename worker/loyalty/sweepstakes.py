"""Sweepstakes (`[[sweepstake]]`): entries for qualifying actions, and a draw anyone can re-run.

An event enters once (`<sweepstake>:<event id>`, unique) if it happened while the sweepstake
was open and is applied before `draw_at`. The clock draws `DRAW_SETTLE` after `draw_at`, so
that no transaction that entered before it is still uncommitted, and records the draw once.

The draw uses no random generator, only SHA-256, so it can be checked by hand:
`seed = sha256("<name>\\n<draw_at in UTC, ISO 8601>\\n" + the entries' causes, sorted, one a line)`;
each entry of `n` tickets holds the tickets `<cause>#0` … `<cause>#<n-1>`; every ticket's
score is `sha256("<seed>:<ticket>")`; tickets are taken lowest score first, and the first
`winners` different customers win. `ladder loyalty draw NAME --verify` does it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from models.db import insert_ignoring_duplicates
from models.tables import CUSTOMERS, SWEEPSTAKE_DRAWS, SWEEPSTAKE_ENTRIES
from triggers.programme import Programme
from triggers.programme_actions import Sweepstake
from worker.loyalty import notices
from worker.loyalty.actions import ActionSeen

S = SWEEPSTAKE_ENTRIES.c
D = SWEEPSTAKE_DRAWS.c
DRAW_SETTLE = timedelta(minutes=5)  # longer than any batch of events takes to commit


def enter(db: Session, programme: Programme, seen: Sequence[ActionSeen], *, now: datetime) -> int:
    """Records the entries the round's events give; returns how many were new."""
    rows = [
        {
            "sweepstake": sweepstake.name,
            "customer_id": item.customer_id,
            "cause": f"{sweepstake.name}:{item.event_id}",
            "tickets": sweepstake.entries[item.event_type],
            "entered_at": now,
        }
        for sweepstake in programme.sweepstake
        if now < sweepstake.draw_at
        for item in seen
        if item.event_type in sweepstake.entries and sweepstake.is_open(item.occurred_at)
    ]
    return len(insert_ignoring_duplicates(db, SWEEPSTAKE_ENTRIES, rows, S.id)) if rows else 0


@dataclass(frozen=True)
class Entry:
    cause: str
    customer_id: int
    tickets: int


@dataclass(frozen=True)
class Draw:
    seed: str
    entries: int
    winners: list[dict[str, Any]]  # {"customer_id", "ticket"}, in the order drawn


def entries_of(db: Session, name: str, *, before: datetime) -> list[Entry]:
    """The entries a draw at `before` counts, sorted by cause."""
    rows = db.execute(
        select(S.cause, S.customer_id, S.tickets)
        .where(S.sweepstake == name, S.entered_at < before)
        .order_by(S.cause)
    )
    return sorted((Entry(r.cause, r.customer_id, r.tickets) for r in rows), key=lambda e: e.cause)


def seed_of(sweepstake: Sweepstake, entries: Sequence[Entry]) -> str:
    causes = "\n".join(sorted(entry.cause for entry in entries))
    text = f"{sweepstake.name}\n{sweepstake.draw_at.astimezone(UTC).isoformat()}\n{causes}"
    return hashlib.sha256(text.encode()).hexdigest()


def draw_from(sweepstake: Sweepstake, entries: Sequence[Entry]) -> Draw:
    """The draw the module's docstring defines: the same entries give the same winners."""
    seed = seed_of(sweepstake, entries)
    tickets = sorted(
        (hashlib.sha256(f"{seed}:{ticket}".encode()).hexdigest(), ticket, entry.customer_id)
        for entry in entries
        for ticket in (f"{entry.cause}#{n}" for n in range(entry.tickets))
    )
    winners: list[dict[str, Any]] = []
    for _, ticket, customer_id in tickets:
        if len(winners) == sweepstake.winners:
            break
        if all(won["customer_id"] != customer_id for won in winners):
            winners.append({"customer_id": customer_id, "ticket": ticket})
    return Draw(seed, len(entries), winners)


def draw_due(db: Session, programme: Programme, *, now: datetime) -> int:
    """Draws every sweepstake `DRAW_SETTLE` past its `draw_at` and not drawn yet, one a
    transaction (committed); each winner gets `sweepstake.won`. Returns how many were drawn;
    a rerun or a second clock draws none twice (the draw row is unique per sweepstake)."""
    drawn = 0
    for sweepstake in programme.sweepstake:
        if now < sweepstake.draw_at + DRAW_SETTLE or recorded(db, sweepstake.name) is not None:
            continue
        drawn += draw(db, sweepstake, now=now)
        db.commit()
    return drawn


def draw(db: Session, sweepstake: Sweepstake, *, now: datetime) -> bool:
    """Draws `sweepstake` and records it; False if it was drawn before (nothing changes)."""
    result = draw_from(sweepstake, entries_of(db, sweepstake.name, before=sweepstake.draw_at))
    row = {
        "sweepstake": sweepstake.name,
        "draw_at": sweepstake.draw_at,
        "drawn_at": now,
        "seed": result.seed,
        "entries": result.entries,
        "winners": result.winners,
    }
    if not insert_ignoring_duplicates(db, SWEEPSTAKE_DRAWS, [row], D.id):
        return False  # another clock drew it first
    query = select(CUSTOMERS.c.id, CUSTOMERS.c.email).where(
        CUSTOMERS.c.id.in_([won["customer_id"] for won in result.winners])
    )
    emails = {row.id: row.email for row in db.execute(query)}
    for won in result.winners:
        notices.announce(
            db,
            event_type="sweepstake.won",
            key=f"{sweepstake.name}:{won['customer_id']}",
            customer_id=won["customer_id"],
            email=emails.get(won["customer_id"], ""),
            data={
                "sweepstake": sweepstake.name,
                "title": sweepstake.title,
                "prize": sweepstake.prize,
                "seed": result.seed,
            },
            now=now,
        )
    return True


def recorded(db: Session, name: str) -> Draw | None:
    row = db.execute(select(D.seed, D.entries, D.winners).where(D.sweepstake == name)).first()
    return Draw(row.seed, row.entries, list(row.winners)) if row is not None else None


def entry_counts(db: Session) -> dict[str, tuple[int, int]]:
    """Per sweepstake: (entrants, tickets) so far."""
    query = select(
        S.sweepstake, func.count(func.distinct(S.customer_id)), func.sum(S.tickets)
    ).group_by(S.sweepstake)
    return {name: (int(people), int(tickets)) for name, people, tickets in db.execute(query)}
