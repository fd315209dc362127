"""Rewards: points become a reward with a code from the shop's pool, spent from the ledger in the
same transaction; an order naming the code redeems it once; and fair play refuses birthday and
referral rewards the rules do not allow, keeping each refusal with its reason."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from models import Customer
from models.db import session
from models.tables import (
    CUSTOMERS,
    EVENTS,
    LOYALTY_ENTRIES,
    LOYALTY_FINGERPRINTS,
    LOYALTY_MEMBERS,
    LOYALTY_REWARDS,
)
from tests.support.factories import order_event
from triggers.programme import Programme, load_programme
from worker.intake.ingest import store_events
from worker.loyalty import codes, fairplay, ledger, rewards
from worker.privacy import erasure, exports
from worker.processing.events import process_many
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def shipped() -> Programme:
    programme = load_programme(PROJECT_ROOT / "triggers", "points-and-tiers")
    assert programme is not None
    return programme


PROGRAMME = shipped()


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")


def handle(db: Session, runtime: Runtime, *, at: datetime, **fields: Any) -> None:
    ids = store_events(db, [order_event(at=at, **fields)], now=at).stored
    process_many(
        db,
        ids,
        now=at,
        scheduler=Scheduler(runtime.triggers, runtime.settings, programme=PROGRAMME),
    )
    db.commit()


def pool(db: Session, reward: str, *found: str) -> None:
    codes.import_pool(db, reward, list(found), source="shopify", now=T0)
    db.commit()


def customer_id(db: Session, email: str = "ana@example.com") -> int:
    return int(db.execute(select(CUSTOMERS.c.id).where(CUSTOMERS.c.email == email)).scalar_one())


def shown(db: Session) -> list[tuple[str, str, str, str | None, str | None]]:
    """Each reward as `ladder loyalty rewards` lists it: whose, which, state, code, reason."""
    return [
        (row.email, row.reward, row.state, row.code, row.reason)
        for row in reversed(rewards.rewards_of(db))
    ]


def own_events(db: Session, event_type: str) -> list[dict[str, Any]]:
    query = select(EVENTS.c.payload).where(EVENTS.c.type == event_type).order_by(EVENTS.c.id)
    return [row.payload["data"] for row in db.execute(query)]


def balance_is_the_ledger(db: Session, who: int) -> int:
    points = db.execute(
        select(LOYALTY_MEMBERS.c.points).where(LOYALTY_MEMBERS.c.customer_id == who)
    ).scalar_one()
    summed = db.execute(
        select(func.sum(LOYALTY_ENTRIES.c.points)).where(LOYALTY_ENTRIES.c.customer_id == who)
    ).scalar_one()
    assert points == summed
    return int(points)


def test_points_become_a_reward_with_the_pools_next_code_spent_once_from_the_ledger(
    db: Session, runtime: Runtime
) -> None:
    pool(db, "five-off", "SPRING-A1", "SPRING-B2")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="520.00")

    clock.sweep_loyalty(db, now=T0 + 31 * DAY, runtime=runtime)
    clock.sweep_loyalty(db, now=T0 + 32 * DAY, runtime=runtime)  # a rerun spends nothing

    ana = customer_id(db)
    assert shown(db) == [("ana@example.com", "five-off", "unlocked", "SPRING-A1", None)]
    assert balance_is_the_ledger(db, ana) == 20  # 520 approved, 500 spent
    [unlocked] = own_events(db, "reward.unlocked")
    assert unlocked["code"] == "SPRING-A1"
    assert unlocked["title"] == "5 euros off"
    assert unlocked["expires_at"] == (T0 + 31 * DAY + 90 * DAY).isoformat()
    assert codes.pool_sizes(db) == {"five-off": (1, 1)}


def test_a_reward_waits_for_its_code_when_the_pool_is_dry_and_is_told_once_it_has_one(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="500.00")
    clock.sweep_loyalty(db, now=T0 + 31 * DAY, runtime=runtime)

    assert shown(db) == [("ana@example.com", "five-off", "unlocked", None, None)]
    assert own_events(db, "reward.unlocked") == []  # no email without a code to show

    pool(db, "five-off", "late-code")
    assert codes.give_pool_codes(db, PROGRAMME, now=T0 + 32 * DAY) == 1
    db.commit()

    assert shown(db) == [("ana@example.com", "five-off", "unlocked", "LATE-CODE", None)]
    assert [event["code"] for event in own_events(db, "reward.unlocked")] == ["LATE-CODE"]


def test_an_order_naming_the_code_redeems_the_reward_once_in_any_case(
    db: Session, runtime: Runtime
) -> None:
    pool(db, "five-off", "SPRING-A1")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="500.00")
    clock.sweep_loyalty(db, now=T0 + 31 * DAY, runtime=runtime)
    at = T0 + 40 * DAY
    used = {"discount_codes": ["spring-a1"]}

    handle(db, runtime, at=at, event_id="e2", order_id="2", total="30.00", order=used)
    handle(db, runtime, at=at, event_id="e2-again", order_id="2", total="30.00", order=used)
    handle(db, runtime, at=at, event_id="e3", order_id="3", total="30.00", order=used)

    assert shown(db) == [("ana@example.com", "five-off", "redeemed", "SPRING-A1", None)]
    assert own_events(db, "reward.redeemed") == [
        {"reward": "five-off", "code": "SPRING-A1", "order_id": "2"}
    ]


def test_an_unused_reward_expires_after_its_time(db: Session, runtime: Runtime) -> None:
    pool(db, "five-off", "SPRING-A1")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="500.00")
    clock.sweep_loyalty(db, now=T0 + 31 * DAY, runtime=runtime)

    assert rewards.expire_due(db, now=T0 + 120 * DAY) == 0
    assert rewards.expire_due(db, now=T0 + 121 * DAY) == 1
    assert shown(db) == [("ana@example.com", "five-off", "expired", "SPRING-A1", None)]


def set_birthday(db: Session, birthday: date, given_at: datetime | None) -> None:
    db.execute(update(CUSTOMERS).values(birthday=birthday, birthday_set_at=given_at))
    db.commit()


def test_a_birthday_reward_comes_once_a_year(db: Session, runtime: Runtime) -> None:
    pool(db, "birthday", "BDAY-1", "BDAY-2", "BDAY-3")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="20.00")
    set_birthday(db, date(1990, 6, 10), given_at=T0)
    day = date(2026, 6, 10)

    assert fairplay.birthday_rewards(db, PROGRAMME, day=day, now=T0 + 37 * DAY) == (1, 0)
    assert fairplay.birthday_rewards(db, PROGRAMME, day=day, now=T0 + 37 * DAY) == (0, 0)
    assert fairplay.birthday_rewards(db, PROGRAMME, day=date(2026, 6, 11), now=T0) == (0, 0)
    next_year = date(2027, 6, 10)
    assert fairplay.birthday_rewards(db, PROGRAMME, day=next_year, now=T0 + 402 * DAY) == (1, 0)

    assert [row[1:4] for row in shown(db)] == [
        ("birthday", "unlocked", "BDAY-1"),
        ("birthday", "unlocked", "BDAY-2"),
    ]


def test_a_birthday_given_less_than_30_days_before_it_is_refused_with_the_reason(
    db: Session, runtime: Runtime
) -> None:
    pool(db, "birthday", "BDAY-1")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="20.00")
    # Given on 25 May for 10 June: 16 days' notice.
    set_birthday(db, date(1990, 6, 10), given_at=datetime(2026, 5, 25, 9, 0, tzinfo=UTC))

    assert fairplay.birthday_rewards(db, PROGRAMME, day=date(2026, 6, 10), now=T0) == (0, 1)

    assert shown(db) == [
        (
            "ana@example.com",
            "birthday",
            "refused",
            None,
            "birthday given on 2026-05-25, less than 30 days before it",
        )
    ]
    assert codes.pool_sizes(db) == {"birthday": (1, 0)}  # no code spent on a refusal


def test_the_birthday_reward_counts_from_when_the_birthday_was_given_through_an_event(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="20.00", birthday="1990-05-20")
    handle(
        db, runtime, at=T0 + DAY, event_id="e2", order_id="2", total="20.00", birthday="1990-05-20"
    )

    set_at = db.execute(select(CUSTOMERS.c.birthday_set_at)).scalar_one()
    assert set_at == T0  # the same birthday told again does not move it

    handle(
        db,
        runtime,
        at=T0 + 2 * DAY,
        event_id="e3",
        order_id="3",
        total="20.00",
        birthday="1990-05-21",
    )
    assert db.execute(select(CUSTOMERS.c.birthday_set_at)).scalar_one() == T0 + 2 * DAY


def referred(
    db: Session, runtime: Runtime, *, by: str, order: dict[str, Any] | None = None, **fields: Any
) -> None:
    """Bo, referred by `by`, places and pays her first order."""
    for kind in ("placed", "paid"):
        handle(
            db,
            runtime,
            at=T0 + DAY,
            event_id=f"bo-{kind}",
            order_id="b1",
            type=f"order.{kind}",
            total="40.00",
            email="bo@example.com",
            first_name="Bo",
            referred_by=by,
            order=order,
            **fields,
        )


def test_a_friends_first_paid_order_kept_past_its_window_rewards_the_referrer_once(
    db: Session, runtime: Runtime
) -> None:
    pool(db, "referral", "FRIEND-1")
    handle(db, runtime, at=T0, event_id="a1", order_id="a1", total="20.00")
    referred(db, runtime, by="Ana@Example.com")

    assert fairplay.referral_rewards(db, PROGRAMME, now=T0 + 30 * DAY) == (0, 0)  # in its window
    assert fairplay.referral_rewards(db, PROGRAMME, now=T0 + 32 * DAY) == (1, 0)
    assert fairplay.referral_rewards(db, PROGRAMME, now=T0 + 33 * DAY) == (0, 0)

    assert shown(db) == [("ana@example.com", "referral", "unlocked", "FRIEND-1", None)]


def test_a_self_referral_is_refused(db: Session, runtime: Runtime) -> None:
    referred(db, runtime, by="bo@example.com")

    assert fairplay.referral_rewards(db, PROGRAMME, now=T0 + 32 * DAY) == (0, 1)
    assert shown(db) == [
        (
            "bo@example.com",
            "referral",
            "refused",
            None,
            "self-referral: the customer named their own address",
        )
    ]


def test_a_referral_whose_order_was_refunded_is_refused(db: Session, runtime: Runtime) -> None:
    handle(db, runtime, at=T0, event_id="a1", order_id="a1", total="20.00")
    referred(db, runtime, by="ana@example.com")
    handle(
        db,
        runtime,
        at=T0 + 3 * DAY,
        event_id="bo-refund",
        order_id="b1",
        type="order.refunded",
        total="40.00",
        email="bo@example.com",
        order={"refund": {"id": "r1", "amount": "10.00"}},
    )

    assert fairplay.referral_rewards(db, PROGRAMME, now=T0 + 32 * DAY) == (0, 1)
    assert [row[2:] for row in shown(db)] == [
        ("refused", None, "the friend's first paid order (b1) was refunded")
    ]


def test_a_referral_from_the_same_browser_and_address_is_refused_naming_them(
    db: Session, runtime: Runtime
) -> None:
    same = {"fingerprints": {"device": "203.0.113.9|Firefox", "address": "1 Main St|1000|BE"}}
    handle(db, runtime, at=T0, event_id="a1", order_id="a1", total="20.00", order=same)
    referred(db, runtime, by="ana@example.com", order=same)

    assert fairplay.referral_rewards(db, PROGRAMME, now=T0 + 32 * DAY) == (0, 1)
    assert [row[0:3] + row[4:] for row in shown(db)] == [
        (
            "ana@example.com",
            "referral",
            "refused",
            "the friend's orders share the referrer's address, browser",
        )
    ]
    kept = db.execute(select(func.count()).select_from(LOYALTY_REWARDS)).scalar_one()
    assert kept == 1
    # The browser is kept as a digest only, never as what the order said.
    digests = list(db.execute(select(LOYALTY_FINGERPRINTS.c.digest)).scalars())
    assert len(digests) == 4 and not any("203.0.113.9" in value for value in digests)
    stored = str(db.execute(select(EVENTS.c.payload)).scalars().all())
    assert "203.0.113.9" not in stored and "Main St" not in stored


def test_points_spent_on_a_reward_keep_the_balance_the_sum_of_the_ledger(
    db: Session, runtime: Runtime
) -> None:
    pool(db, "five-off", "A", "B", "C")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="20.00")
    ana = customer_id(db)
    ledger.adjust(db, customer_id=ana, points=1200, reason="goodwill", key="k1", now=T0)
    db.commit()

    assert rewards.unlock_for_points(db, PROGRAMME, ana, now=T0) == 2
    db.commit()

    assert balance_is_the_ledger(db, ana) == 200
    assert codes.give_pool_codes(db, PROGRAMME, now=T0) == 2
    assert [row[3] for row in shown(db)] == ["A", "B"]


def test_an_export_holds_the_rewards_and_forgetting_removes_fingerprints_and_referrals(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    pool(db, "five-off", "SPRING-A1")
    seen = {"fingerprints": {"device": "203.0.113.9|Firefox"}}
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="500.00", order=seen)
    referred(db, runtime, by="ana@example.com")
    clock.sweep_loyalty(db, now=T0 + 31 * DAY, runtime=runtime)
    ana = db.get(Customer, customer_id(db))
    assert ana is not None

    path = exports.export(db, ana, source="cli", reference=None, now=T0, into=tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [(r["reward"], r["state"], r["code"]) for r in document["loyalty"]["rewards"]] == [
        ("five-off", "unlocked", "SPRING-A1"),
        ("referral", "unlocked", None),  # Bo's first order: the pool for it is empty
    ]
    [fingerprint] = document["loyalty"]["fingerprints"]
    assert fingerprint["kind"] == "device" and "203.0.113.9" not in json.dumps(document)

    erasure.forget(db, ana, source="cli", reference=None, now=T0, settings=runtime.settings)
    db.commit()

    kept = db.execute(select(LOYALTY_FINGERPRINTS.c.customer_id)).scalars().all()
    assert ana.id not in kept  # Bo's own stay
    bo = db.execute(select(CUSTOMERS.c.referred_by).where(CUSTOMERS.c.email == "bo@example.com"))
    assert bo.scalar_one() is None
    assert [row[1:4] for row in shown(db)] == [  # the rewards stay, anonymous now
        ("five-off", "unlocked", "SPRING-A1"),
        ("referral", "unlocked", None),
    ]


@pytest.mark.commits
def test_workers_unlocking_at_once_spend_each_members_points_once_and_give_each_code_once(
    db: Session, runtime: Runtime, database_url: str
) -> None:
    pool(db, "five-off", *(f"CODE-{n:02d}" for n in range(30)))
    members = []
    for n in range(5):
        email = f"m{n}@example.com"
        handle(db, runtime, at=T0, event_id=f"e{n}", order_id=str(n), total="10.00", email=email)
        members.append(customer_id(db, email))
        ledger.adjust(db, customer_id=members[-1], points=1200, reason="test", key=f"k{n}", now=T0)
    db.commit()
    failures: list[BaseException] = []

    def work() -> None:
        try:
            with session(database_url) as own:
                for member in members:
                    rewards.unlock_for_points(own, PROGRAMME, member, now=T0)
                    codes.give_pool_codes(own, PROGRAMME, now=T0, customer_ids=[member])
                    own.commit()
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert failures == []
    given = shown(db)
    assert len(given) == 10  # two 500-point rewards each, however many workers tried
    assert {row[3] for row in given} == {f"CODE-{n:02d}" for n in range(10)}
    for member in members:
        assert balance_is_the_ledger(db, member) == 200
