"""The points ledger: an order earns once, pending until its return window, then approved; a
refund or cancellation takes back its share; and every balance is the sum of its ledger, also
with workers applying the same orders at once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from models import Customer
from models.db import session
from models.tables import EVENTS, LOYALTY_ENTRIES, LOYALTY_MEMBERS
from tests.support.factories import order_event
from triggers.programme import load_programme
from worker.intake.ingest import store_events
from worker.loyalty import ledger, sweeps
from worker.privacy import erasure, exports
from worker.processing.events import process_many
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PROGRAMME = load_programme(PROJECT_ROOT / "triggers", "points-and-tiers")


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop runs the shipped programme (set before `runtime` reads the settings)."""
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")


def scheduler(runtime: Runtime) -> Scheduler:
    return Scheduler(runtime.triggers, runtime.settings, programme=PROGRAMME)


def handle(db: Session, runtime: Runtime, *, at: datetime, **fields: Any) -> None:
    ids = store_events(db, [order_event(at=at, **fields)], now=at).stored
    process_many(db, ids, now=at, scheduler=scheduler(runtime))


def balances(db: Session) -> tuple[int, int]:
    """Ana's (points, pending)."""
    row = db.execute(select(LOYALTY_MEMBERS.c.points, LOYALTY_MEMBERS.c.pending)).one()
    return int(row.points), int(row.pending)


def causes(db: Session) -> list[tuple[str, int, int]]:
    entries = LOYALTY_ENTRIES.c
    query = select(entries.cause, entries.points, entries.pending).order_by(entries.id)
    return [(row.cause, row.points, row.pending) for row in db.execute(query)]


def own_events(db: Session, event_type: str) -> list[dict[str, Any]]:
    query = select(EVENTS.c.payload).where(EVENTS.c.type == event_type).order_by(EVENTS.c.id)
    return [row.payload["data"] for row in db.execute(query)]


def test_an_order_earns_a_point_per_euro_pending_once_however_often_it_is_told(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="123.45")
    handle(db, runtime, at=T0, event_id="e1-again", order_id="1", total="123.45")

    assert balances(db) == (0, 123)
    assert causes(db) == [("order:1:earn", 0, 123)]
    [earned] = own_events(db, "points.earned")
    available_at = (T0 + 30 * DAY).isoformat()
    assert earned == {
        "points": 123,
        "order_id": "1",
        "available_at": available_at,
        "action": None,
        "first": True,  # her first points: the welcome tells them
    }


def test_a_partial_refund_takes_back_its_share_and_a_cancellation_the_rest(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="100.00")
    refund = {"refund": {"id": "r1", "amount": "25.00"}}
    for event_id in ("r1", "r1-again"):  # the same refund under two event ids
        handle(
            db,
            runtime,
            at=T0 + DAY,
            event_id=event_id,
            order_id="1",
            total="100.00",
            type="order.refunded",
            order=refund,
        )
    assert balances(db) == (0, 75)

    handle(db, runtime, at=T0 + 2 * DAY, event_id="c1", order_id="1", type="order.cancelled")

    assert balances(db) == (0, 0)
    assert causes(db) == [
        ("order:1:earn", 0, 100),
        ("order:1:clawback:refunded:2500", 0, -25),
        ("order:1:clawback:cancelled", 0, -75),
    ]


def test_points_are_approved_after_the_return_window_and_a_later_refund_comes_off_the_balance(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="80.00")

    assert sweeps.approve_due(db, now=T0 + 29 * DAY) == 0
    assert sweeps.approve_due(db, now=T0 + 30 * DAY) == 1
    assert sweeps.approve_due(db, now=T0 + 31 * DAY) == 0  # a second sweep approves nothing
    assert balances(db) == (80, 0)

    handle(
        db,
        runtime,
        at=T0 + 40 * DAY,
        event_id="r1",
        order_id="1",
        total="80.00",
        type="order.refunded",
        order={"refund": {"id": "r1", "amount": "20.00"}},
    )
    assert balances(db) == (60, 0)


def test_an_adjustment_with_its_key_counts_once(db: Session, runtime: Runtime) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="10.00")
    [customer_id] = db.execute(select(LOYALTY_MEMBERS.c.customer_id)).scalars()

    first = ledger.adjust(
        db, customer_id=customer_id, points=50, reason="goodwill", key="k1", now=T0
    )
    again = ledger.adjust(
        db, customer_id=customer_id, points=50, reason="goodwill", key="k1", now=T0
    )

    assert first is not None and again is None
    assert balances(db) == (50, 10)


def sums_match(db: Session) -> list[tuple[int, int, int, int, int]]:
    """Each member's balances beside the sums of their ledger; equal pairs when all is well."""
    entries = LOYALTY_ENTRIES.c
    sums = (
        select(
            entries.customer_id,
            func.sum(entries.points).label("points"),
            func.sum(entries.pending).label("pending"),
        )
        .group_by(entries.customer_id)
        .subquery()
    )
    members = LOYALTY_MEMBERS.c
    query = select(
        members.customer_id, members.points, sums.c.points, members.pending, sums.c.pending
    )
    query = query.join(sums, sums.c.customer_id == members.customer_id).order_by(
        members.customer_id
    )
    return [tuple(int(value) for value in row) for row in db.execute(query)]  # type: ignore[misc]


@pytest.mark.commits
def test_workers_applying_the_same_orders_at_once_keep_every_balance_the_sum_of_its_ledger(
    db: Session, runtime: Runtime, database_url: str
) -> None:
    """Four workers, each with its own batches of the same customers' orders told twice
    (two event ids an order, as a platform retrying does), refunds told twice and approvals
    running beside them: each order earns once, each refund takes back once."""
    events = []
    for n in range(40):
        email, order_id = f"c{n % 5}@example.com", str(n)
        for copy in ("a", "b"):
            events.append(
                order_event(
                    at=T0, event_id=f"o{n}{copy}", order_id=order_id, total="50.00", email=email
                )
            )
            events.append(
                order_event(
                    at=T0 + DAY,
                    event_id=f"r{n}{copy}",
                    order_id=order_id,
                    total="50.00",
                    email=email,
                    type="order.refunded",
                    order={"refund": {"id": f"r{n}", "amount": "10.00"}},
                )
            )
    ids = store_events(db, events, now=T0).stored
    db.commit()
    # Dealt so that every worker holds both copies of some orders and one copy of others.
    slices = [ids[start::4] for start in range(4)]
    failures: list[BaseException] = []

    def work(mine: list[int]) -> None:
        try:
            with session(database_url) as own:
                for start in range(0, len(mine), 7):
                    process_many(
                        own, mine[start : start + 7], now=T0 + DAY, scheduler=scheduler(runtime)
                    )
                    sweeps.approve_due(own, now=T0 + 31 * DAY)
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(part,)) for part in slices]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    sweeps.approve_due(db, now=T0 + 31 * DAY)

    assert failures == []
    matched = sums_match(db)
    assert len(matched) == 5
    for _, points, points_sum, pending, pending_sum in matched:
        assert (points, pending) == (points_sum, pending_sum)
    entries = LOYALTY_ENTRIES.c
    kinds = db.execute(
        select(entries.kind, func.count()).group_by(entries.kind).order_by(entries.kind)
    ).all()
    assert [tuple(row) for row in kinds] == [("approve", 40), ("clawback", 40), ("earn", 40)]
    # Each order keeps four fifths of what it earned (its tier's multiplier then), once.
    by_order = db.execute(
        select(
            func.sum(entries.points + entries.pending),
            func.max(entries.pending),
        ).group_by(entries.order_id)
    ).all()
    assert [(int(kept), int(earned) * 4 // 5) for kept, earned in by_order] == [
        (int(earned) * 4 // 5,) * 2 for _, earned in by_order
    ]


def test_the_privacy_export_holds_the_ledger_and_forgetting_clears_an_adjustments_words(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="30.00")
    ana = db.exec(sqlmodel_select(Customer)).one()
    assert ana.id is not None
    ledger.adjust(db, customer_id=ana.id, points=5, reason="sorry, Ana Lopez", key="k", now=T0)

    path = exports.export(db, ana, source="cli", reference=None, now=T0, into=tmp_path)
    held = json.loads(path.read_text())["loyalty"]
    assert (held["points"], held["pending"]) == (5, 30)
    assert [entry["cause"] for entry in held["ledger"]] == ["order:1:earn", "adjust:k"]

    erasure.forget(db, ana, source="cli", reference=None, now=T0, settings=runtime.settings)
    db.commit()
    assert [row[2] for row in causes_and_reasons(db)] == [None, None]
    assert balances(db) == (5, 30)  # anonymous now, and still the sum of the ledger


def causes_and_reasons(db: Session) -> list[tuple[str, int, str | None]]:
    entries = LOYALTY_ENTRIES.c
    query = select(entries.cause, entries.points, entries.reason).order_by(entries.id)
    return [(row.cause, row.points, row.reason) for row in db.execute(query)]


def test_the_clock_approves_points_once_a_day_after_the_return_window(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="40.00")
    db.commit()

    assert clock.tick(db, now=T0 + 10 * DAY, runtime=runtime).loyalty["approved"] == 0
    later = clock.tick(db, now=T0 + 31 * DAY, runtime=runtime)

    assert later.loyalty == {
        "approved": 1,
        "expiring": 0,
        "expired": 0,
        "tier_up": 0,
        "tier_down": 0,
        "rewards": 0,  # 40 points do not reach the five-off's 500
        "rewards_refused": 0,
        "pool_codes": 0,
        "rewards_expired": 0,
    }
    assert balances(db) == (40, 0)


def test_an_idle_balance_is_warned_of_a_month_ahead_then_lapses_once(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="40.00")
    sweeps.approve_due(db, now=T0 + 30 * DAY)
    assert PROGRAMME is not None

    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 300 * DAY) == (0, 0)
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 335 * DAY) == (1, 0)
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 336 * DAY) == (0, 0)  # warned once
    assert own_events(db, "points.expiring") == [
        {"points": 40, "expires_at": (T0 + 365 * DAY).isoformat()}
    ]
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 365 * DAY) == (0, 1)
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 366 * DAY) == (0, 0)
    assert balances(db) == (0, 0)
    assert causes(db)[-1][1:] == (-40, 0)


def test_the_sweeps_work_through_members_in_batches_and_a_rerun_changes_nothing(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven members and batches of three: every due order approved once, every idle balance
    warned of then lapsed once, each balance still the sum of its ledger."""
    monkeypatch.setattr(sweeps, "BATCH", 3)
    for n in range(7):
        at = T0 + n * timedelta(hours=1)
        email = f"c{n}@example.com"
        handle(db, runtime, at=at, event_id=f"e{n}", order_id=str(n), email=email, total="40.00")
    # One refunded in full before its window passed: nothing of it is left to approve.
    refund = {"refund": {"id": "r6", "amount": "40.00"}}
    handle(db, runtime, at=T0 + DAY, event_id="r6", order_id="6", email="c6@example.com",
           total="40.00", type="order.refunded", order=refund)  # fmt: skip
    db.commit()
    assert PROGRAMME is not None

    assert sweeps.approve_due(db, now=T0 + 31 * DAY) == 6
    assert sweeps.approve_due(db, now=T0 + 32 * DAY) == 0
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 336 * DAY) == (6, 0)
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 337 * DAY) == (0, 0)
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 366 * DAY) == (0, 6)
    assert sweeps.expire_inactive(db, PROGRAMME, now=T0 + 367 * DAY) == (0, 0)

    matched = sums_match(db)
    assert [(points, pending) for _, points, _, pending, _ in matched] == [(0, 0)] * 7
    for _, points, points_sum, pending, pending_sum in matched:
        assert (points, pending) == (points_sum, pending_sum)
    expiring = own_events(db, "points.expiring")
    assert sorted(event["expires_at"] for event in expiring) == [
        (T0 + n * timedelta(hours=1) + 365 * DAY).isoformat() for n in range(6)
    ]
    assert {event["points"] for event in expiring} == {40}
