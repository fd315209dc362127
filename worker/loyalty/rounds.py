"""What one round of applied events does to the programme, in the transaction that records
them: the order events on the ledger, the tiers their orders lift, the rewards their codes
redeem and their spend unlocks; the other events' action points and sweepstake entries; and
the welcome of those whose first points these were."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from models import Customer
from triggers.programme import Programme
from worker.loyalty import (
    actions,
    ledger,
    order_points,
    order_rewards,
    sweepstakes,
    tiers,
    welcome,
)
from worker.loyalty.actions import ActionSeen


def apply_round(
    db: Session,
    programme: Programme,
    orders_in: Sequence[tuple[order_points.OrderSeen, Any]],
    acted: Sequence[ActionSeen],
    facts: dict[int, Customer],
    *,
    currency: str,
    now: datetime,
) -> None:
    """`orders_in`: each order event as recorded, with the order it carried. Every member the
    round touches is locked first, in customer order, the one lock order every worker uses."""
    seen = [item for item, _ in orders_in]
    wanted = actions.seen_in(programme, acted)
    emails = {item.customer_id: item.email for item in seen}
    emails.update((a.customer_id, a.email) for a in wanted)
    members = ledger.lock_members(db, emails)
    newcomers = {i: emails[i] for i, member in members.items() if not member.joined}
    if seen:
        order_points.apply_orders(db, programme, seen, currency=currency, now=now, members=members)
        lifted = [(item.customer_id, item.email) for item in seen]
        tiers.review_after_orders(
            db, programme, lifted, currency=currency, now=now, members=members
        )
        order_rewards.after_orders(
            db, programme, list(orders_in), facts, currency=currency, now=now
        )
    if wanted:
        actions.earn_for_actions(db, programme, wanted, now=now)
        sweepstakes.enter(db, programme, wanted, now=now)
    welcome.welcome(db, programme, newcomers, now=now)
