"""Attribution: each order credited to the last email that reached its customer within that
email's window before the order (for a trigger whose rule is `clicked`, the last one clicked).

Kept as rows, re-decided set-based for just the orders an event may have changed: those a
batch of events recorded, and those a provider event (a click, a bounce) may move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlmodel import Session

from models import DeliveryStatus
from models.db import insert_many
from models.tables import ATTRIBUTIONS, DELIVERIES, ORDERS, PROVIDER_EVENTS
from models.types import UTCDateTime, one_of
from triggers.schema import MAX_ATTRIBUTION_WINDOW

S = DeliveryStatus
# Emails that reached the customer, or may have: not bounced, dropped or failed.
TOUCHING = tuple(s.value for s in (S.SENT, S.DEFERRED, S.DELIVERED, S.OPENED, S.CLICKED))


def attribute_orders(db: Session, order_ids: Iterable[int], *, now: datetime) -> int:
    """Decides again which email each of these orders is credited to, replacing their rows.
    Returns how many of them are attributed. A few statements for any number of orders."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    orders = db.execute(_orders(), {"ids": ids}).all()
    db.execute(_forget_attributions(), {"ids": ids})
    if not orders:
        return 0
    values = {
        "customers": sorted({o.customer_id for o in orders}),
        "earliest": min(o.placed_at for o in orders) - MAX_ATTRIBUTION_WINDOW,
        "latest": max(o.placed_at for o in orders),
    }
    by_customer: dict[int, list[Any]] = defaultdict(list)
    for email in db.execute(_candidates(), values):
        by_customer[email.customer_id].append(email)
    clicked = [e.id for emails in by_customer.values() for e in emails if e.rule == "clicked"]
    clicks = _first_clicks(db, clicked)
    rows = []
    for order in orders:
        best = _last_touch(by_customer[order.customer_id], clicks, order.placed_at)
        if best is not None:
            email, touched_at = best
            rows.append(
                {
                    "order_id": order.id,
                    "delivery_id": email.id,
                    "customer_id": order.customer_id,
                    "trigger": email.trigger,
                    "rule": email.rule,
                    "window_s": email.window_s,
                    "touched_at": touched_at,
                    "attributed_at": now,
                }
            )
    if rows:
        insert_many(db, _insert_attributions(), rows)
    return len(rows)


@cache
def _insert_attributions() -> Any:
    return ATTRIBUTIONS.insert()  # built once: insert_many keeps its form by the statement


@cache
def _forget_attributions() -> Any:
    return delete(ATTRIBUTIONS).where(one_of(ATTRIBUTIONS.c.order_id, "ids"))


def _last_touch(
    emails: list[Any], clicks: dict[int, datetime], placed_at: datetime
) -> tuple[Any, datetime] | None:
    """The email whose touch (its sending, or its first click for the `clicked` rule) came
    last before `placed_at`, among those sent at most their window before it."""
    best: tuple[Any, datetime] | None = None
    for email in emails:
        touched = email.sent_at if email.rule == "received" else clicks.get(email.id)
        if touched is None or touched > placed_at:
            continue
        if email.sent_at + timedelta(seconds=email.window_s) < placed_at:
            continue
        if best is None or (touched, email.id) > (best[1], best[0].id):
            best = (email, touched)
    return best


def reattribute_after(db: Session, delivery_id: int, *, now: datetime) -> int:
    """After a provider event moved this delivery (a click may make it the one that earned an
    order, a bounce means it never reached anyone): its customer's orders within the longest
    window after its sending are decided again. Returns how many of them are attributed."""
    found = db.execute(_sent_of(), {"delivery_id": delivery_id}).first()
    if found is None or found.sent_at is None:
        return 0
    values = {
        "customer_id": found.customer_id,
        "after": found.sent_at,
        "before": found.sent_at + MAX_ATTRIBUTION_WINDOW,
    }
    order_ids = [int(i) for i in db.execute(_orders_after(), values).scalars()]
    return attribute_orders(db, order_ids, now=now)


def _sent_at() -> Any:
    return func.coalesce(DELIVERIES.c.sent_at, DELIVERIES.c.requested_at)


@cache
def _orders() -> Any:
    o = ORDERS.c
    return select(o.id, o.customer_id, o.placed_at).where(one_of(o.id, "ids"))


@cache
def _candidates() -> Any:
    d = DELIVERIES.c
    sent_at = _sent_at().label("sent_at")
    return select(
        d.id,
        d.customer_id,
        d.trigger,
        d.attribution.label("rule"),
        d.attribution_window_s.label("window_s"),
        sent_at,
    ).where(
        one_of(d.customer_id, "customers"),
        d.status.in_(TOUCHING),
        d.attribution != "none",
        _sent_at() >= bindparam("earliest", type_=UTCDateTime()),
        _sent_at() <= bindparam("latest", type_=UTCDateTime()),
    )


def _first_clicks(db: Session, delivery_ids: list[int]) -> dict[int, datetime]:
    if not delivery_ids:
        return {}
    p = PROVIDER_EVENTS.c
    first = (
        select(p.delivery_id, func.min(p.occurred_at))
        .where(p.delivery_id.in_(sorted(set(delivery_ids))), p.type == "click")
        .group_by(p.delivery_id)
    )
    return {int(i): _aware(at) for i, at in db.execute(first)}


def _aware(value: Any) -> datetime:
    """`min()` loses the column's type on SQLite: read it back as the column would."""
    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type,return-value]


@cache
def _sent_of() -> Any:
    d = DELIVERIES.c
    return select(d.customer_id, _sent_at().label("sent_at")).where(
        d.id == bindparam("delivery_id")
    )


@cache
def _orders_after() -> Any:
    o = ORDERS.c
    return select(o.id).where(
        o.customer_id == bindparam("customer_id"),
        o.placed_at >= bindparam("after", type_=UTCDateTime()),
        o.placed_at <= bindparam("before", type_=UTCDateTime()),
    )
