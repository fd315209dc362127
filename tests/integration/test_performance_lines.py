"""`performance.performance` against its definition worked out by hand over a shop of random
emails: per trigger, segment, variant and language, the emails counted by status, the
attributed orders' net revenue and the emails that earned any, the provider's complaints and
unsubscribes (the statement counts by status, then joins the earned and the told from their
own few rows)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from models import DeliveryStatus, OrderStatus
from models.tables import ATTRIBUTIONS, CUSTOMERS, DELIVERIES, EVENTS, ORDERS, PROVIDER_EVENTS
from worker.measurement.performance import DELIVERED, OPENED, SENT, Line, performance

START = datetime(2026, 1, 1, tzinfo=UTC)
SINCE, UNTIL = START + timedelta(days=2), START + timedelta(days=8)
S = DeliveryStatus
TYPES = ("spamreport", "unsubscribe", "group_unsubscribe", "open", "click")


def shop(db: Session, seed: int) -> dict[str, list[dict[str, object]]]:
    """Twenty customers in three locales (one unset), sixty emails of two triggers over ten
    days in every status, segments and variants some unset; orders attributed to some emails
    (cancelled, refunded in part); provider events of several kinds. Returns the rows."""
    rng = random.Random(seed)
    customers: list[dict[str, object]] = [
        {"id": n, "email": f"c{n}@example.com", "created_at": START, "accepts_marketing": True,
         "locale": rng.choice(("en", "DE", None))}
        for n in range(1, 21)
    ]  # fmt: skip
    db.execute(insert(CUSTOMERS), customers)
    db.execute(insert(EVENTS), [{"id": 1, "source": "test", "source_event_id": "cause",
        "type": "order.paid", "occurred_at": START, "received_at": START, "payload": {},
        "status": "processed", "attempts": 1}])  # fmt: skip
    deliveries: list[dict[str, object]] = [
        {"id": i, "dedupe_key": f"e{i}", "trigger": rng.choice(("a", "b")), "message": "m",
         "segment": rng.choice(("loyal", "new", None)), "variant": rng.choice(("x", "y", None)),
         "customer_id": rng.randrange(1, 21), "cause_event_id": 1,
         "status": rng.choice(list(S)).value, "created_at": START,
         "send_at": START + timedelta(hours=rng.randrange(240))}
        for i in range(1, 61)
    ]  # fmt: skip
    db.execute(insert(DELIVERIES), deliveries)
    orders: list[dict[str, object]] = []
    attributions: list[dict[str, object]] = []
    for n in range(1, 41):
        delivery = rng.choice(deliveries)
        status = rng.choice((OrderStatus.PAID, OrderStatus.PAID, OrderStatus.CANCELLED))
        total, refunded = rng.choice((1000, 2500)), rng.choice((0, 0, 300))
        orders.append({"id": n, "source": "test", "source_order_id": f"o{n}",
            "customer_id": delivery["customer_id"], "status": status.value, "total": total,
            "currency": "EUR", "shop_total": total, "shop_refunded": refunded,
            "placed_at": START})  # fmt: skip
        if rng.random() < 0.8:
            attributions.append({"order_id": n, "delivery_id": delivery["id"],
                "customer_id": delivery["customer_id"], "trigger": delivery["trigger"],
                "rule": "received", "window_s": 432000, "touched_at": START,
                "attributed_at": START})  # fmt: skip
    db.execute(insert(ORDERS), orders)
    db.execute(insert(ATTRIBUTIONS), attributions)
    told: list[dict[str, object]] = [
        {"provider": "sendgrid", "provider_event_id": f"p{n}", "type": rng.choice(TYPES),
         "delivery_id": rng.choice([None, *range(1, 61)]), "occurred_at": START,
         "received_at": START, "payload": {}}
        for n in range(50)
    ]  # fmt: skip
    db.execute(insert(PROVIDER_EVENTS), told)
    db.commit()
    return {"customers": customers, "deliveries": deliveries, "orders": orders,
            "attributions": attributions, "told": told}  # fmt: skip


def by_hand(rows: dict[str, list[dict[str, object]]], since: datetime | None,
            until: datetime | None) -> dict[tuple[str, str, str, str], Line]:  # fmt: skip
    """Each line, by definition, email by email."""
    locale = {c["id"]: str(c["locale"] or "en").lower() for c in rows["customers"]}
    orders = {o["id"]: o for o in rows["orders"]}
    net = {
        n: 0 if o["status"] == OrderStatus.CANCELLED.value
        else int(str(o["shop_total"])) - int(str(o["shop_refunded"]))
        for n, o in orders.items()
    }  # fmt: skip
    lines: dict[tuple[str, str, str, str], Line] = {}
    for d in rows["deliveries"]:
        at = d["send_at"]
        assert isinstance(at, datetime)
        if d["status"] == S.SKIPPED.value or (since and at < since) or (until and at >= until):
            continue
        key = (str(d["trigger"]), str(d["segment"] or "-"), str(d["variant"] or "-"),
               locale[d["customer_id"]])  # fmt: skip
        line = lines.setdefault(key, Line(*key))
        status = str(d["status"])
        line.scheduled += 1
        line.held_out += status == S.HELD_OUT.value
        line.sent += status in SENT
        line.delivered += status in DELIVERED
        line.opened += status in OPENED
        line.clicked += status == S.CLICKED.value
        line.bounces += status == S.BOUNCED.value
        line.dropped += status == S.DROPPED.value
        earned = sum(net[a["order_id"]] for a in rows["attributions"]
                     if a["delivery_id"] == d["id"])  # fmt: skip
        line.revenue += earned
        line.converted += earned > 0
        for event in rows["told"]:
            if event["delivery_id"] == d["id"]:
                line.complaints += event["type"] == "spamreport"
                line.unsubscribes += event["type"] in ("unsubscribe", "group_unsubscribe")
    return lines


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("period", [(None, None), (SINCE, UNTIL)])
def test_each_line_is_the_one_worked_out_by_hand(
    db: Session, seed: int, period: tuple[datetime | None, datetime | None]
) -> None:
    rows = shop(db, seed)
    since, until = period

    found = performance(db, since=since, until=until, default_locale="en")

    expected = by_hand(rows, since, until)
    assert {(x.trigger, x.segment, x.variant, x.language): x for x in found} == expected
    assert [x.trigger for x in found] == sorted(x.trigger for x in found)
