"""What a round of order events does to rewards, in the transaction that records the orders:
the fingerprints kept for fair play, the codes they redeem, the money back their spend unlocks
(with pool codes given at once)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from triggers.programme import Programme
from worker.loyalty import codes, fairplay, rewards
from worker.loyalty.order_points import OrderSeen


def after_orders(
    db: Session,
    programme: Programme,
    orders: Sequence[tuple[OrderSeen, Any]],
    facts: dict[int, Any],
    *,
    currency: str,
    now: datetime,
) -> None:
    """`orders`: each event's order as seen by the ledger and as the event told it (its
    `discount_codes`, `fingerprints`); `facts`: the customers' rows after the round."""
    redemptions = []
    for item, told in orders:
        if told is None:
            continue
        if told.fingerprints is not None:
            fingerprints = told.fingerprints.model_dump()
            fairplay.record_fingerprints(db, item.customer_id, fingerprints, now=now)
        if told.discount_codes:
            redemptions.append(
                rewards.Redemption(
                    item.order.id,
                    item.order.source_order_id,
                    item.customer_id,
                    item.email,
                    told.discount_codes,
                )
            )
    rewards.redeem(db, redemptions, now=now)
    if not any(reward.every_spent or reward.at_spent for reward in programme.reward):
        return
    earning = sorted(
        {item.customer_id for item, _ in orders if item.event_type == programme.earn.on}
    )
    unlocked = 0
    for customer_id in earning:
        customer = facts.get(customer_id)
        if customer is not None:
            unlocked += rewards.unlock_for_spend(
                db,
                programme,
                customer_id,
                spent_minor=int(customer.total_spent),
                currency=currency,
                now=now,
            )
    if unlocked:
        codes.give_pool_codes(db, programme, now=now, customer_ids=earning)
