"""`ladder report loyalty`: members against non-members who bought before the period, and the
programme's cost against its incremental revenue, as a shop reads them (80 columns, JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from models import Customer, EntryKind, LoyaltyEntry, LoyaltyReward, Order, RewardState
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.cli import app
from worker.runtime import Runtime

pytestmark = pytest.mark.commits  # the CLI reads the shop on its own connection

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 4, 1, tzinfo=UTC)
BEFORE = SINCE - timedelta(days=20)
DAY = timedelta(days=1)


def customer(db: Session, email: str) -> int:
    row = Customer(email=email, created_at=BEFORE - 30 * DAY)
    db.add(row)
    db.flush()
    return int(row.id or 0)


def order(db: Session, customer_id: int, total: int, at: datetime, **more: Any) -> int:
    row = Order(
        source="api", source_order_id=f"{customer_id}-{at:%Y%m%d%H}", customer_id=customer_id,
        total=total, currency="EUR", placed_at=at, shop_total=total, **more,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return int(row.id or 0)


def entry(db: Session, customer_id: int, cause: str, points: int, at: datetime) -> None:
    kind = EntryKind.SPEND if points < 0 else EntryKind.ADJUST
    db.add(LoyaltyEntry(customer_id=customer_id, cause=cause, kind=kind, points=points,
                        created_at=at))  # fmt: skip


@pytest.fixture
def shop(db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ARG001
    """Before the quarter Ana, Bo and Cy (members: points by then) and Dee and Eve (not)
    bought 20.00 each. In it: Ana twice (30.00, then 50.00 with her five-off code), Bo once
    (40.00), Dee once (20.00), Eve's 25.00 cancelled; Fay first bought and joined in it (in
    neither group). Points left at the end: Ana 600 - 500 spent, Bo 100, Cy 50."""
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    ana, bo, cy, dee, eve, fay = (
        customer(db, f"{name}@example.com") for name in ("ana", "bo", "cy", "dee", "eve", "fay")
    )
    for who in (ana, bo, cy, dee, eve):
        order(db, who, 2000, BEFORE)
    for who, points in ((ana, 600), (bo, 100), (cy, 50)):
        entry(db, who, f"adjust:{who}", points, BEFORE)
    order(db, ana, 3000, SINCE + 10 * DAY)
    used = order(db, ana, 5000, SINCE + 40 * DAY)
    order(db, bo, 4000, SINCE + 20 * DAY)
    order(db, dee, 2000, SINCE + 30 * DAY)
    order(db, eve, 2500, SINCE + 30 * DAY, status="cancelled")
    order(db, fay, 6000, SINCE + 5 * DAY)
    entry(db, fay, f"adjust:{fay}", 60, SINCE + 5 * DAY)
    entry(db, ana, "reward:1", -500, SINCE + 35 * DAY)
    db.add(LoyaltyReward(
        customer_id=ana, reward="five-off", cause=f"points:{ana}:1", state=RewardState.REDEEMED,
        points=500, code="FIVE-A1", code_source="pool", created_at=SINCE + 35 * DAY,
        redeemed_at=SINCE + 40 * DAY, order_id=used,
    ))  # fmt: skip
    db.commit()
    current_time.freeze(UNTIL + 5 * DAY)


def report(*args: str) -> Any:
    done = CliRunner().invoke(app, ["report", "loyalty", *args], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    return done.output


PERIOD = ("--since", "2026-01-01", "--until", "2026-04-01")


@pytest.mark.usefixtures("shop")
def test_members_and_non_members_are_counted_from_who_bought_before_the_period() -> None:
    found = json.loads(report(*PERIOD, "--json"))["loyalty"]

    assert found["members"] == {
        "customers": 3, "retained": 2, "retention": 2 / 3, "repeat_buyers": 1,
        "repeat_rate": 0.5, "orders": 3, "revenue": 12000, "average_order_value": 4000.0,
        "revenue_per_customer": 4000.0,
    }  # fmt: skip
    assert found["non_members"] == {
        "customers": 2, "retained": 1, "retention": 0.5, "repeat_buyers": 0,
        "repeat_rate": 0.0, "orders": 1, "revenue": 2000, "average_order_value": 2000.0,
        "revenue_per_customer": 1000.0,
    }  # fmt: skip
    retention = found["retention_difference"]
    assert retention["difference"] == pytest.approx(1 / 6)
    # Wald: 1.96 * sqrt(2/3 * 1/3 / 3 + 1/2 * 1/2 / 2)
    assert retention["high"] - retention["difference"] == pytest.approx(0.8745, abs=1e-4)
    assert found["revenue_per_customer_difference"]["difference"] == pytest.approx(3000)
    assert found["average_order_value_difference"] == {"difference": 2000.0, "low": None,
                                                       "high": None}  # fmt: skip
    assert found["rewards_redeemed"] == [{"reward": "five-off", "count": 1, "value": 500}]
    assert found["cost"] == 500
    assert found["points_outstanding"] == 310  # Fay's 60 too: the ledger's sum at the end
    assert found["liability"] == 310  # a point is a cent at five-off's 5.00 for 500
    assert found["incremental_revenue"]["difference"] == pytest.approx(9000)  # 30.00 x 3
    assert found["incremental_per_cost"] == pytest.approx(18.0)
    assert found["too_small"] is True


@pytest.mark.usefixtures("shop")
def test_a_small_shop_is_told_it_has_too_few_to_tell_and_that_members_self_select() -> None:
    found = json.loads(report(*PERIOD, "--json"))["loyalty"]

    assert found["verdict"] == (
        "Too few to tell: 3 members (2 came back) and 2 non-members (1 came back); the"
        " interval needs at least 30 customers and 5 who came back and who did not in each."
        " Members are not a random group: they bought while the programme ran or chose to"
        " join, so this is a difference between groups, not what the programme did."
    )
    assert found["cost_verdict"] == (
        "Rewards redeemed cost 5.00 EUR; too few to tell what it earned (the members' verdict"
        " says why)."
    )


@pytest.mark.usefixtures("shop")
def test_the_loyalty_tables_fit_80_columns_and_show_the_json_numbers() -> None:
    shown = report(*PERIOD)
    found = json.loads(report(*PERIOD, "--json"))["loyalty"]

    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    words = " ".join(shown.translate(str.maketrans("│┃", "  ")).split())
    m, o = found["members"], found["non_members"]
    assert f"customers {m['customers']} {o['customers']}" in words
    assert "came back 66.7% 50.0% +16.7 pt" in words
    assert "(-70.8…+104.1)" in words
    assert "repeat rate 50.0% 0.0% +50.0 pt order value" in words  # one non-member came back
    # One non-member order: no spread, so no interval beneath the difference.
    assert (
        f"order value EUR {m['average_order_value'] / 100:.2f} 20.00 +20.00 EUR/customer" in words
    )
    assert "EUR/customer 40.00 10.00 +30.00" in words
    assert "redeemed: five-off 1 5.00" in words
    assert "cost: rewards redeemed 5.00" in words
    assert f"points left at the end: liability {found['points_outstanding']} 3.10" in words
    assert "incremental revenue +90.00" in words
    assert f"incremental revenue / cost {found['incremental_per_cost']:.1f}" in words
    assert "members: Too few to tell: 3 members (2 came back)" in words


def test_without_a_programme_the_section_says_how_to_choose_one(runtime: Runtime) -> None:  # noqa: ARG001
    shown = report()

    assert "Loyalty: no programme (set LOYALTY_PROGRAMME to a programme file's name)." in shown


def test_enough_members_and_non_members_get_a_verdict_that_still_warns_of_self_selection(
    db: Session,
    runtime: Runtime,  # noqa: ARG001  (its settings first; the programme's on top of them)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 members, 30 of them back in the quarter; 40 non-members, 10 back: a difference
    the interval tells, said with the caution it needs, and the global holdout's limit."""
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")
    monkeypatch.setenv("GLOBAL_HOLDOUT", "0.05")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    for i in range(80):
        who = customer(db, f"c{i}@example.com")
        order(db, who, 2000, BEFORE)
        member = i < 40
        if member:
            entry(db, who, f"adjust:{who}", 10, BEFORE)
        if (member and i < 30) or (not member and i < 50):
            order(db, who, 3000 + 100 * (i % 7), SINCE + DAY)
    db.commit()
    current_time.freeze(UNTIL)

    found = json.loads(report(*PERIOD, "--json"))["loyalty"]

    assert found["too_small"] is False
    assert found["verdict"] == (
        "Members came back more often than non-members: +50.0 points (95 % CI +31.0 to"
        " +69.0); revenue per customer differs too. Members are not a random group: they"
        " bought while the programme ran or chose to join, so this is a difference between"
        " groups, not what the programme did. The global holdout keeps customers from"
        " marketing emails, not from the programme, so it does not make this a causal lift."
    )
    assert found["cost_verdict"].startswith("Rewards redeemed cost 0.00 EUR; members brought")
    assert found["cost_verdict"].endswith(
        "An upper bound more than a measure: members who would have bought anyway count as"
        " the programme's."
    )


@pytest.mark.usefixtures("shop")
def test_the_html_page_draws_members_beside_non_members(tmp_path: Path) -> None:
    target = tmp_path / "report.html"

    report(*PERIOD, "--html", str(target))

    shown = target.read_text(encoding="utf-8")
    assert (
        '<svg role="img" aria-label="loyalty members: 67 % of members came back against 50 %'
        " of non-members; members select themselves, so this is not what the programme did."
    ) in shown
    assert "Too few to tell: 3 members (2 came back)" in shown


def test_when_every_earlier_buyer_is_a_member_the_report_says_there_is_no_one_to_compare(
    db: Session,
    runtime: Runtime,  # noqa: ARG001  (its settings first; the programme's on top of them)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    for name in ("ana", "bo"):
        who = customer(db, f"{name}@example.com")
        order(db, who, 2000, BEFORE)
        entry(db, who, f"adjust:{who}", 20, BEFORE)
    db.commit()
    current_time.freeze(UNTIL)

    found = json.loads(report(*PERIOD, "--json"))["loyalty"]

    assert found["verdict"] == (
        "No one to compare with: all 2 customers who bought before the period were members"
        " (the programme enrols every buyer)."
    )
    assert found["cost_verdict"] == (
        "Rewards redeemed cost 0.00 EUR; with no non-members to compare with, what it earned"
        " is not known."
    )
    assert found["incremental_revenue"] == {"difference": None, "low": None, "high": None}
