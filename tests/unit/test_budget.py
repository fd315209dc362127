"""The frequency budget as arithmetic: when one more email fits, when it is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.limits import Budget
from worker.scheduling.budget import decide

NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)
BUDGET = Budget.of(per_day=1, per_week=2)


def test_an_empty_budget_lets_it_go_now() -> None:
    assert BUDGET.next_allowed([], now=NOW) == (NOW, "")
    assert decide(BUDGET, [], now=NOW, due_at=NOW, max_lateness=timedelta(days=2)) is None


def test_one_this_morning_defers_the_next_to_a_day_after_it() -> None:
    morning = NOW - timedelta(hours=3)
    allowed, rule = BUDGET.next_allowed([morning], now=NOW)
    assert (allowed, rule) == (morning + timedelta(days=1), "1 per day")


def test_two_this_week_defer_until_the_older_one_is_a_week_old() -> None:
    monday, tuesday = NOW - timedelta(days=6), NOW - timedelta(days=5)
    allowed, rule = BUDGET.next_allowed([monday, tuesday], now=NOW)
    assert (allowed, rule) == (monday + timedelta(days=7), "2 per 7 days")


def test_past_the_max_lateness_it_is_skipped_with_the_reason() -> None:
    tuesday = NOW - timedelta(days=5)
    decision = decide(
        BUDGET,
        [NOW - timedelta(days=1, hours=-1), tuesday],
        now=NOW,
        due_at=NOW,
        max_lateness=timedelta(hours=6),
    )
    assert decision is not None and decision.send_at is None
    assert decision.reason.startswith("budget (2 per 7 days marketing): no room before")


def test_a_deferral_lands_in_the_send_window_when_asked() -> None:
    decision = decide(
        BUDGET,
        [NOW - timedelta(hours=1)],
        now=NOW,
        due_at=NOW,
        max_lateness=timedelta(days=3),
        settle=lambda moment: moment + timedelta(hours=10),
    )
    assert decision is not None
    assert decision.send_at == NOW + timedelta(days=1, hours=9)
    assert "deferred by the budget (1 per day marketing)" in decision.reason


def test_no_limits_never_defer() -> None:
    assert Budget.of(per_day=0, per_week=0).next_allowed([NOW] * 9, now=NOW) == (NOW, "")


def test_fewer_taken_than_every_limit_leaves_room_wherever_they_fall() -> None:
    assert BUDGET.has_room(0)
    assert not BUDGET.has_room(1)  # one a day
    assert Budget.of(per_day=3, per_week=5).has_room(2)
    assert not Budget.of(per_day=0, per_week=2).has_room(2)
    assert Budget.of(per_day=0, per_week=0).has_room(100)  # no limits
