"""The state machines of deliveries, events and inbox rows: every move a row may make, and
the one compare-and-set that makes it.

Every stage moves a row with `Machine.update` (a statement it may build once and run many
times) or `Machine.move`: `UPDATE … SET status = :to WHERE … AND status IN (:from)`. A row no
longer in a `from` state was moved by someone else first (another worker, the clock, a
provider event): the statement leaves it alone, and the caller returns quietly. A move not in
the table is a bug, refused when the statement is built.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Table, Update, or_, update
from sqlmodel import Session

from models.broadcasts import RunStatus
from models.deliveries import DeliveryStatus
from models.events import EventStatus
from models.inbox import InboxItem, InboxStatus
from models.tables import BROADCAST_RUNS, DELIVERIES, EVENTS, INBOX

D = DeliveryStatus
# After `sent` the provider's events move a delivery forward only. A delivery still `sending`
# (its 202 never recorded) or `failed` as "outcome unknown" (its worker died mid-send) is
# settled by the provider's word as well.
_PROVIDER_STATES = frozenset({D.DEFERRED, D.DELIVERED, D.OPENED, D.CLICKED, D.BOUNCED, D.DROPPED})
_SETTLED_AT_SEND = frozenset({D.SENT, D.FAILED, D.CANCELLED, D.SKIPPED, D.SUPPRESSED})
DELIVERY_MOVES: Mapping[StrEnum, frozenset[StrEnum]] = {
    # claimed by a worker; or cancelled by an `unless` event before it was due
    D.SCHEDULED: frozenset({D.SENDING, D.CANCELLED}),
    # decided at send time; or back to scheduled: released, retried, deferred, paused
    D.SENDING: _SETTLED_AT_SEND | {D.SCHEDULED} | _PROVIDER_STATES,
    D.SENT: _PROVIDER_STATES,
    D.FAILED: _PROVIDER_STATES,  # "outcome unknown", settled by the provider
    D.DEFERRED: _PROVIDER_STATES - {D.DEFERRED},
    D.DELIVERED: frozenset({D.OPENED, D.CLICKED, D.BOUNCED}),
    D.OPENED: frozenset({D.CLICKED}),
}
# Where a delivery row starts: `scheduling.matching` inserts it in one of these.
DELIVERY_BORN = frozenset({D.SCHEDULED, D.HELD_OUT, D.SKIPPED, D.FAILED})

E = EventStatus
EVENT_MOVES: Mapping[StrEnum, frozenset[StrEnum]] = {
    E.PENDING: frozenset({E.PROCESSED, E.FAILED}),
}

Inbox = InboxStatus
INBOX_MOVES: Mapping[StrEnum, frozenset[StrEnum]] = {
    Inbox.PENDING: frozenset({Inbox.NORMALISED, Inbox.IGNORED, Inbox.FAILED}),
    # `ladder inbox replay`, after a fix
    Inbox.FAILED: frozenset({Inbox.PENDING}),
    Inbox.IGNORED: frozenset({Inbox.PENDING}),
}

# A broadcast run: resolved by the clock, or cancelled before (its deliveries cancel apart).
RUN_MOVES: Mapping[StrEnum, frozenset[StrEnum]] = {
    RunStatus.SCHEDULED: frozenset({RunStatus.RESOLVED, RunStatus.TESTING, RunStatus.CANCELLED}),
    RunStatus.TESTING: frozenset({RunStatus.RESOLVED, RunStatus.CANCELLED}),  # the winner, or not
    RunStatus.CANCELLED: frozenset({RunStatus.SCHEDULED}),  # scheduled again, if never resolved
}


class IllegalMove(ValueError):
    """A move the state machine does not allow: a bug in the code that asked for it."""


@dataclass(frozen=True)
class Machine:
    table: Table
    moves: Mapping[StrEnum, frozenset[StrEnum]]
    # What the statement updates: the table, or the model for an ORM `RETURNING` of rows.
    target: Any = None

    def allows(self, source: StrEnum, target: StrEnum) -> bool:
        return target in self.moves.get(source, frozenset())

    def update(
        self,
        source: StrEnum | Collection[StrEnum],
        target: StrEnum,
        *where: ColumnElement[bool],
        **values: Any,
    ) -> Update:
        """The compare-and-set moving rows matching `where` from any of `source` to `target`,
        setting `values` too (plain values or bound parameters)."""
        sources = [source] if isinstance(source, StrEnum) else sorted(source)
        for start in sources:
            if not self.allows(start, target):
                raise IllegalMove(f"{self.table.name}: {start} → {target} is not a move")
        status = self.table.c.status
        # Equalities, not IN: an expanding IN cannot run as an executemany.
        current = or_(*(status == start.value for start in sources))
        return (
            update(self.target if self.target is not None else self.table)
            .where(current, *where)
            .values(status=target.value, **values)
        )

    def move(
        self,
        db: Session,
        source: StrEnum | Collection[StrEnum],
        target: StrEnum,
        *where: ColumnElement[bool],
        **values: Any,
    ) -> int:
        """Moves the rows matching `where` that are still in `source`; returns how many moved
        (0 when another process moved them first). The caller commits."""
        result = db.execute(self.update(source, target, *where, **values))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def move_one(
        self,
        db: Session,
        row_id: int,
        source: StrEnum | Collection[StrEnum],
        target: StrEnum,
        **values: Any,
    ) -> bool:
        """Moves one row; False if it was no longer in `source`. The caller commits."""
        return self.move(db, source, target, self.table.c.id == row_id, **values) == 1


DELIVERY = Machine(DELIVERIES, DELIVERY_MOVES)
EVENT = Machine(EVENTS, EVENT_MOVES)
INBOX_ROW = Machine(INBOX, INBOX_MOVES, target=InboxItem)
BROADCAST_RUN = Machine(BROADCAST_RUNS, RUN_MOVES)
