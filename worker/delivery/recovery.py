"""Stale claims: deliveries left `sending` by a worker that stopped answering, sent again
unless their request may have reached a provider that would send them twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, true
from sqlmodel import Session

from models import DeliveryStatus
from models.states import DELIVERY
from models.tables import DELIVERIES

S = DeliveryStatus
# The reason a stale claim gets when its request may have left for a provider that is not
# idempotent; a provider event for the delivery settles it later (`feedback`).
OUTCOME_UNKNOWN = "outcome unknown"


def recover_stale(
    db: Session, *, now: datetime, claim_timeout: timedelta, idempotent: bool
) -> tuple[int, int]:
    """Deliveries still `sending` whose claim, or their request's stamp if they have one, is
    older than `claim_timeout` (a batch's claims are taken together, but each request is
    stamped as it leaves, and ages from then): put back to scheduled, to be sent again,
    unless a second send could be a second email: a provider that is not idempotent, and a
    request that may have left (`claims.request` stamped `requested_at`). Those are failed,
    "outcome unknown", and never resent.

    A worker still busy with a row put back loses it: its `claims.request` finds the claim
    gone and it sends nothing. Returns (released, abandoned).
    """
    c = DELIVERIES.c
    # The stale rows, locked in id order, skipping any a worker is finishing right now: a
    # worker that answers after all keeps its row, and neither side waits on the other.
    stale = (
        select(c.id, c.requested_at)
        .where(
            c.status == S.SENDING.value,
            func.coalesce(c.requested_at, c.claimed_at) < now - claim_timeout,
        )
        .order_by(c.id)
        .with_for_update(skip_locked=True)
    )
    rows = db.execute(stale).all()
    unsent = [row.id for row in rows if idempotent or row.requested_at is None]
    maybe_sent = [row.id for row in rows if not idempotent and row.requested_at is not None]
    released = abandoned = 0
    if unsent:
        released = DELIVERY.move(
            db,
            S.SENDING,
            S.SCHEDULED,
            c.id.in_(unsent),
            # Again in the statement: on SQLite no row lock kept a request from being stamped.
            true() if idempotent else c.requested_at.is_(None),
            enqueued_at=None,  # the relay hands it to the broker at the next tick
            reason="released: the worker that claimed it stopped answering",
        )
    if maybe_sent:
        abandoned = DELIVERY.move(
            db,
            S.SENDING,
            S.FAILED,
            c.id.in_(maybe_sent),
            c.requested_at.is_not(None),
            reason=f"{OUTCOME_UNKNOWN}: the worker stopped while sending; "
            "not resent to avoid a duplicate",
        )
    db.commit()
    return released, abandoned
