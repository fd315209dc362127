"""The customer ladder: each customer's rung kept current as orders arrive and as days pass,
only those who move written, each move recorded once and told once as `rung.up` / `rung.down`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import CUSTOMERS, DELIVERIES, EVENTS, LADDER_MOVES, ORDERS
from tests.support.factories import customer_event, order_event
from worker.intake.ingest import store_events
from worker.measurement import rungs
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
UP = {"direction": "up"}


def apply(db: Session, runtime: Runtime, events: list[Any], *, now: datetime = NOW) -> None:
    ids = store_events(db, events, now=now).stored
    scheduler = Scheduler(runtime.triggers, runtime.settings, rungs=runtime.rung_scheme)
    result = process_many(db, ids, now=now, scheduler=scheduler)
    assert result.failed == {}


def orders(email: str, days_ago: list[int], *, now: datetime = NOW) -> list[Any]:
    return [
        order_event(event_id=f"{email}-{at:%Y%m%d}", order_id=f"{email}-{at:%Y%m%d}",
                    email=email, at=at, total="30.00")
        for at in (now - timedelta(days=ago) for ago in days_ago)
    ]  # fmt: skip


def customer(db: Session, email: str) -> Any:
    return db.execute(select(CUSTOMERS).where(CUSTOMERS.c.email == email)).one()


def moves(db: Session, email: str) -> list[tuple[str | None, str]]:
    found = (
        select(LADDER_MOVES.c.from_rung, LADDER_MOVES.c.to_rung)
        .join(CUSTOMERS, CUSTOMERS.c.id == LADDER_MOVES.c.customer_id)
        .where(CUSTOMERS.c.email == email)
        .order_by(LADDER_MOVES.c.version)
    )
    return [tuple(row) for row in db.execute(found)]


def told(db: Session) -> list[tuple[str, str, dict[str, Any]]]:
    found = select(EVENTS.c.type, EVENTS.c.source_event_id, EVENTS.c.payload).where(
        EVENTS.c.type.in_(rungs.EVENT_TYPES)
    )
    return [
        (t, key, payload["data"]) for t, key, payload in db.execute(found.order_by(EVENTS.c.id))
    ]


def test_orders_climb_the_ladder_in_the_commit_that_records_them(
    db: Session, runtime: Runtime
) -> None:
    apply(db, runtime, [customer_event(event_id="new", at=NOW, type="customer.created")])
    assert customer(db, "ana@example.com").rung == "prospect"

    apply(db, runtime, orders("ana@example.com", [40]))
    apply(db, runtime, orders("ana@example.com", [40, 10]))

    ana = customer(db, "ana@example.com")
    assert (ana.rung, ana.previous_rung, ana.rung_version) == ("repeat", "first_time", 3)
    assert moves(db, "ana@example.com") == [
        (None, "prospect"), ("prospect", "first_time"), ("first_time", "repeat"),
    ]  # fmt: skip
    # A first placement is no news; each move after it is told once, named by its version.
    assert told(db) == [
        ("rung.up", f"rung.up:{ana.id}:2", {"from": "prospect", "to": "first_time", **UP}),
        ("rung.up", f"rung.up:{ana.id}:3", {"from": "first_time", "to": "repeat", **UP}),
    ]


def test_an_event_that_moves_no_one_writes_no_customer(db: Session, runtime: Runtime) -> None:
    apply(db, runtime, orders("ana@example.com", [40, 10]))
    before = customer(db, "ana@example.com")

    later = NOW + timedelta(hours=1)
    apply(db, runtime, [customer_event(event_id="upd", at=later, first_name="Anna")], now=later)
    again = orders("ana@example.com", [40, 10])  # the same orders told again
    apply(db, runtime, [*again, *orders("bo@example.com", [3])], now=later)

    after = customer(db, "ana@example.com")
    assert (after.rung_version, after.rung_changed_at) == (before.rung_version, NOW)
    assert moves(db, "ana@example.com") == [(None, "first_time"), ("first_time", "repeat")]
    assert moves(db, "bo@example.com") == [(None, "first_time")]


def test_the_daily_refresh_moves_those_gone_quiet_and_only_them(
    db: Session, runtime: Runtime
) -> None:
    scheme = runtime.rung_scheme
    assert scheme is not None
    apply(db, runtime, orders("ana@example.com", [200, 150, 100]))  # three orders, quiet 100 days
    apply(db, runtime, orders("bo@example.com", [5]))
    apply(db, runtime, orders("cy@example.com", [300, 250, 200, 150, 30]))
    assert [customer(db, f"{n}@example.com").rung for n in ("ana", "bo", "cy")] == [
        "repeat", "first_time", "loyal",
    ]  # fmt: skip

    already = len(told(db))
    day = NOW + timedelta(days=21)  # Ana's last order is 121 days old
    assert rungs.refresh(db, scheme, now=day, currency="EUR") == 1

    ana = customer(db, "ana@example.com")
    assert (ana.rung, ana.rung_changed_at) == ("at_risk", day)
    assert customer(db, "bo@example.com").rung_changed_at == NOW  # not rewritten
    assert told(db)[already:] == [
        ("rung.down", f"rung.down:{ana.id}:{ana.rung_version}",
         {"from": "repeat", "to": "at_risk", "direction": "down"}),
    ]  # fmt: skip
    assert rungs.refresh(db, scheme, now=day + timedelta(hours=6), currency="EUR") == 0
    assert len(told(db)) == already + 1

    back = day + timedelta(days=1)
    apply(db, runtime, orders("ana@example.com", [0], now=back), now=back)
    assert customer(db, "ana@example.com").rung == "loyal"  # four orders, the last today
    assert told(db)[-1][:2] == ("rung.up", f"rung.up:{ana.id}:{ana.rung_version + 1}")


def test_a_regular_moved_into_at_risk_is_answered_by_the_win_back_trigger_once(
    db: Session, runtime: Runtime
) -> None:
    scheme = runtime.rung_scheme
    assert scheme is not None
    apply(db, runtime, orders("ana@example.com", [200, 150, 100]))
    day = NOW + timedelta(days=21)
    rungs.refresh(db, scheme, now=day, currency="EUR")
    rungs.refresh(db, scheme, now=day + timedelta(days=1), currency="EUR")  # no second move
    pending = select(EVENTS.c.id).where(EVENTS.c.type == "rung.down", EVENTS.c.status == "pending")
    ids = list(db.scalars(pending))
    assert len(ids) == 1

    scheduler = Scheduler(runtime.triggers, runtime.settings, rungs=scheme)
    process_many(db, ids, now=day, scheduler=scheduler)

    ana = customer(db, "ana@example.com")
    rows = db.execute(
        select(DELIVERIES.c.trigger, DELIVERIES.c.status, DELIVERIES.c.send_at).where(
            DELIVERIES.c.customer_id == ana.id, DELIVERIES.c.trigger == "win-back-at-risk"
        )
    ).all()
    assert [(r.trigger, r.status) for r in rows] == [("win-back-at-risk", "scheduled")]
    # Moved at noon: the note goes at 10:00 the next morning (UTC, no zone known).
    assert rows[0].send_at.replace(tzinfo=UTC) == (day + timedelta(days=1)).replace(hour=10)


def test_a_move_an_imported_history_makes_is_never_mailed(db: Session, runtime: Runtime) -> None:
    """Orders of long ago, imported today, move Ana into at_risk: the event keeps its cause's
    time, so the win-back it would start is skipped as too late, not sent today."""
    old = NOW - timedelta(days=400)
    history = orders("ana@example.com", [0], now=old)
    history += orders("ana@example.com", [0], now=old + timedelta(days=30))
    history += orders("ana@example.com", [0], now=old + timedelta(days=60))
    apply(db, runtime, history)
    found = list(db.execute(select(EVENTS.c.id, EVENTS.c.occurred_at).where(
        EVENTS.c.type == "rung.down")))  # fmt: skip
    assert [at.replace(tzinfo=UTC) for _, at in found] == [old + timedelta(days=60)]

    scheduler = Scheduler(runtime.triggers, runtime.settings, rungs=runtime.rung_scheme)
    process_many(db, [event_id for event_id, _ in found], now=NOW, scheduler=scheduler)

    statuses = db.scalars(
        select(DELIVERIES.c.status).where(DELIVERIES.c.trigger == "win-back-at-risk")
    )
    assert list(statuses) in (["skipped"], ["held_out"])


def year_revenue_from_orders(db: Session, email: str, now: datetime) -> int:
    """The year's revenue worked out from the order rows, as the ladder's definition says."""
    o = ORDERS.c
    counted = o.status.not_in(["cancelled", "refunded"]) & (o.placed_at > now - timedelta(days=365))
    found = select(func.coalesce(func.sum(o.shop_total - o.shop_refunded), 0)).where(
        o.customer_id == customer(db, email).id, counted
    )
    return int(db.scalar(found) or 0)


def test_the_year_s_revenue_is_kept_as_orders_and_refunds_arrive(
    db: Session, runtime: Runtime
) -> None:
    apply(db, runtime, orders("ana@example.com", [400, 200, 10]))  # one order outside the year
    assert (
        customer(db, "ana@example.com").revenue_12m
        == 6000
        == year_revenue_from_orders(db, "ana@example.com", NOW)
    )
    last = f"ana@example.com-{NOW - timedelta(days=10):%Y%m%d}"  # as `orders` names it
    refund = order_event(event_id="refund", order_id=last,
                         email="ana@example.com", at=NOW, total="30.00", type="order.refunded",
                         order={"refund": {"id": "r1", "amount": "12.50"}})  # fmt: skip
    apply(db, runtime, [refund])
    ana = customer(db, "ana@example.com")
    assert ana.revenue_12m == 4750 == year_revenue_from_orders(db, "ana@example.com", NOW)
    assert ana.revenue_12m_oldest_at.replace(tzinfo=UTC) == NOW - timedelta(days=200)


def test_a_champion_whose_big_order_turns_a_year_old_steps_down_in_the_daily_refresh(
    db: Session, runtime: Runtime
) -> None:
    """Six orders, the last this week, 250 or more this year: a champion. When the big one of
    360 days ago leaves the year, the daily refresh works her year out again and she is loyal."""
    scheme = runtime.rung_scheme
    assert scheme is not None
    big = order_event(event_id="big", order_id="big", email="ana@example.com",
                      at=NOW - timedelta(days=360), total="300.00")  # fmt: skip
    apply(db, runtime, [big, *orders("ana@example.com", [50, 40, 30, 20, 5])])
    assert customer(db, "ana@example.com").rung == "champion"

    assert rungs.refresh(db, scheme, now=NOW + timedelta(days=4), currency="EUR") == 0
    assert customer(db, "ana@example.com").rung == "champion"  # 364 days: still in the year

    day = NOW + timedelta(days=6)
    assert rungs.refresh(db, scheme, now=day, currency="EUR") == 1
    ana = customer(db, "ana@example.com")
    assert (ana.rung, ana.revenue_12m) == ("loyal", year_revenue_from_orders(db, ana.email, day))
    assert ana.revenue_12m == 15000
    assert told(db)[-1] == (
        "rung.down", f"rung.down:{ana.id}:{ana.rung_version}",
        {"from": "champion", "to": "loyal", "direction": "down"},
    )  # fmt: skip


def test_the_daily_sweep_keeps_the_year_s_revenue_equal_to_its_orders_day_after_day(
    db: Session, runtime: Runtime
) -> None:
    """Orders leave the year one by one (a partly refunded one and a cancelled one among them):
    after each day's sweep the kept figure is the sum of the orders of the year, and then 0."""
    ana = orders("ana@example.com", [364, 362, 361, 358, 300])
    bo = orders("bo@example.com", [363, 359, 200])
    apply(db, runtime, [*ana, *bo])
    cancel = order_event(event_id="cancel", order_id=bo[0].order.id, email="bo@example.com",
                         at=NOW, total="30.00", type="order.cancelled")  # fmt: skip
    refund = order_event(event_id="refund", order_id=ana[2].order.id, email="ana@example.com",
                         at=NOW, total="30.00", type="order.refunded",
                         order={"refund": {"id": "r1", "amount": "10.00"}})  # fmt: skip
    apply(db, runtime, [cancel, refund])
    kept = []
    for day in range(0, 370, 3):
        at = NOW + timedelta(days=day)
        rungs.sweep(db, now=at)
        for email in ("ana@example.com", "bo@example.com"):
            assert customer(db, email).revenue_12m == year_revenue_from_orders(db, email, at)
        kept.append(customer(db, "ana@example.com").revenue_12m)
    assert kept[0] == 14000 and kept[-1] == 0
    assert customer(db, "bo@example.com").revenue_12m_oldest_at is None
