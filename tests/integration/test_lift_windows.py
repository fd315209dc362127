"""`lift.lifts` against its definition worked out by hand over a shop of random emails and
orders: each trigger and customer in the group of their first row, earning the net revenue of
every order inside any of their windows once, however the windows overlap or nest (the
statement covers each window's part no earlier row covered, without a DISTINCT)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from models import DeliveryStatus, OrderStatus
from models.tables import CUSTOMERS, DELIVERIES, EVENTS, ORDERS
from worker.measurement.lift import Group, lifts

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
STATUSES = (DeliveryStatus.SENT, DeliveryStatus.HELD_OUT, DeliveryStatus.CANCELLED,
            DeliveryStatus.SKIPPED)  # fmt: skip


class Email(NamedTuple):
    trigger: str
    customer: int
    status: str
    send_at: datetime
    window: timedelta


class Order(NamedTuple):
    customer: int
    placed_at: datetime
    net: int  # what it is worth now: nothing once cancelled


def shop(db: Session, seed: int) -> tuple[list[Email], list[Order]]:
    """Thirty customers, up to eight emails each of two triggers on whole hours over ten
    days (windows of one to four days, so they overlap, nest and touch), and up to ten
    orders on whole hours over two weeks: some at a window's very edge, some cancelled or
    refunded in part. Returns them in the order of their ids."""
    rng = random.Random(seed)
    db.execute(insert(CUSTOMERS), [
        {"id": n, "email": f"c{n}@example.com", "created_at": START, "accepts_marketing": True}
        for n in range(1, 31)
    ])  # fmt: skip
    db.execute(insert(EVENTS), [{"id": 1, "source": "test", "source_event_id": "cause",
        "type": "order.paid", "occurred_at": START, "received_at": START, "payload": {},
        "status": "processed", "attempts": 1}])  # fmt: skip
    emails: list[Email] = []
    orders: list[Order] = []
    order_rows: list[dict[str, object]] = []
    for n in range(1, 31):
        emails += [
            Email(rng.choice(("a", "b")), n, rng.choice(STATUSES).value,
                  START + HOUR * rng.randrange(10 * 24), timedelta(days=rng.randrange(1, 5)))
            for _ in range(rng.randrange(9))
        ]  # fmt: skip
        for _ in range(rng.randrange(11)):
            total, refunded = rng.choice((1000, 2500, 4000)), rng.choice((0, 0, 500))
            status = rng.choice((OrderStatus.PAID, OrderStatus.PAID, OrderStatus.CANCELLED))
            placed_at = START + HOUR * rng.randrange(14 * 24)
            counted = status == OrderStatus.PAID
            orders.append(Order(n, placed_at, total - refunded if counted else 0))
            order_rows.append({
                "source": "test", "source_order_id": f"o{len(order_rows)}", "customer_id": n,
                "status": status.value, "total": total, "currency": "EUR",
                "shop_total": total, "shop_refunded": refunded, "placed_at": placed_at,
            })  # fmt: skip
    db.execute(insert(DELIVERIES), [
        {"dedupe_key": f"e{i}", "trigger": e.trigger, "message": "m", "customer_id": e.customer,
         "cause_event_id": 1, "status": e.status, "send_at": e.send_at, "created_at": START,
         "attribution_window_s": int(e.window.total_seconds())}
        for i, e in enumerate(emails)
    ])  # fmt: skip
    db.execute(insert(ORDERS), order_rows)
    db.commit()
    return emails, orders


def by_hand(emails: list[Email], orders: list[Order]) -> dict[str, dict[bool, Group]]:
    """Each trigger with anyone held out: its groups, by definition, order by order."""
    chosen = [(i, e) for i, e in enumerate(emails) if e.status != DeliveryStatus.SKIPPED.value]
    held_triggers = {e.trigger for _, e in chosen if e.status == DeliveryStatus.HELD_OUT.value}
    rows: dict[tuple[str, int], list[tuple[int, Email]]] = defaultdict(list)
    for i, e in chosen:
        if e.trigger in held_triggers:
            rows[(e.trigger, e.customer)].append((i, e))
    earned: dict[str, dict[bool, list[int]]] = defaultdict(lambda: defaultdict(list))
    for (trigger, customer), theirs in rows.items():
        _, first = min(theirs, key=lambda row: (row[1].send_at, row[0]))
        revenue = sum(
            o.net
            for o in orders
            if o.customer == customer
            and any(e.send_at <= o.placed_at <= e.send_at + e.window for _, e in theirs)
        )
        earned[trigger][first.status == DeliveryStatus.HELD_OUT.value].append(revenue)
    return {
        trigger: {
            held: Group(len(values), sum(v > 0 for v in values), sum(values))
            for held, values in groups.items()
        }
        for trigger, groups in earned.items()
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_trigger_s_groups_are_those_worked_out_by_hand(db: Session, seed: int) -> None:
    emails, orders = shop(db, seed)
    expected = by_hand(emails, orders)
    found = {lift.trigger: lift for lift in lifts(db, since=None, until=None)}
    assert set(found) == set(expected)
    for trigger, groups in expected.items():
        assert found[trigger].mailed == groups.get(False, Group(0, 0, 0)), trigger
        assert found[trigger].held_out == groups.get(True, Group(0, 0, 0)), trigger
