"""Budget, quiet hours and holdouts on a simulated clock, through the real pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from models import Customer, DeliveryStatus
from worker.canonical import CanonicalEvent
from worker.demo.time_machine import Sent, TimeMachine, time_machine
from worker.runtime import Runtime
from worker.scheduling.holdout import is_held_out

MONDAY = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)

BUDGETED = {
    "first": 'priority = 10\nmax_lateness = "6d"',
    "second": 'max_lateness = "3d"',
    "third": 'max_lateness = "2h"',
    "receipt": 'class = "transactional"',
}


def write_triggers(folder: Path, triggers: dict[str, str], *, head: str = "") -> Path:
    folder.mkdir()
    for name, extra in triggers.items():
        text = f'name = "{name}"\nmessage = "thank_you"\non = "order.placed"\n{head}{extra}\n'
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def budgeted(runtime: Runtime, tmp_path: Path) -> Iterator[TimeMachine]:  # noqa: ARG001
    folder = write_triggers(tmp_path / "triggers", BUDGETED)
    settings = {"TRIGGERS_DIR": str(folder), "MARKETING_PER_DAY": "1", "MARKETING_PER_WEEK": "2"}
    with time_machine(MONDAY, settings=settings) as machine:
        yield machine


def test_over_budget_the_lower_priority_email_waits_and_transactional_never_does(
    budgeted: TimeMachine,
) -> None:
    budgeted.happen(budgeted.order_placed("ana@example.com"))

    rows = {d.trigger: d for d in budgeted.deliveries("ana@example.com")}
    assert rows["first"].status == DeliveryStatus.SENT
    assert rows["receipt"].status == DeliveryStatus.SENT  # not counted, not deferred
    second = rows["second"]
    assert (second.status, second.send_at) == (DeliveryStatus.SCHEDULED, MONDAY + timedelta(days=1))
    assert second.reason is not None
    assert second.reason.startswith("deferred by the budget (1 per day marketing)")
    third = rows["third"]  # only 2 hours of lateness allowed: skipped, saying why, not dropped
    assert third.status == DeliveryStatus.SKIPPED
    assert third.reason is not None and third.reason.startswith("budget (")
    assert "max lateness" in third.reason

    budgeted.advance(timedelta(days=2))

    assert budgeted.emails("ana@example.com") == [
        Sent("first", MONDAY),
        Sent("receipt", MONDAY),
        Sent("second", MONDAY + timedelta(days=1)),
    ]


def test_a_week_holds_two_marketing_emails_and_the_third_waits_for_the_oldest_to_age(
    budgeted: TimeMachine,
) -> None:
    budgeted.happen(budgeted.order_placed("ana@example.com"))
    budgeted.advance(timedelta(days=2))
    budgeted.happen(budgeted.order_placed("ana@example.com"))  # Wednesday: two sent this week

    waiting = [d for d in budgeted.deliveries("ana@example.com") if d.trigger == "first"][-1]
    assert waiting.status == DeliveryStatus.SCHEDULED
    assert waiting.send_at == MONDAY + timedelta(days=7)  # Monday's email leaves the window
    assert waiting.reason is not None and "2 per 7 days" in waiting.reason

    budgeted.advance(timedelta(days=6))
    marketing = [s for s in budgeted.emails("ana@example.com") if s.trigger != "receipt"]
    assert [s.sent_at for s in marketing] == [
        MONDAY,
        MONDAY + timedelta(days=1),
        MONDAY + timedelta(days=7),
    ]


@pytest.mark.parametrize(
    ("ordered_at", "expected"),
    [
        # Saturday 21:00 EST, the night New York springs forward: Sunday 09:00 EDT.
        (datetime(2026, 3, 8, 2, 0, tzinfo=UTC), datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
        # Saturday 21:00 EDT, the night it falls back: Sunday 09:00 EST.
        (datetime(2026, 11, 1, 1, 0, tzinfo=UTC), datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_hold_an_evening_email_until_nine_local_across_dst(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
    ordered_at: datetime,
    expected: datetime,
) -> None:
    folder = write_triggers(tmp_path / "triggers", {"evening": ""})
    settings = {"TRIGGERS_DIR": str(folder), "SEND_WINDOW": "09:00-20:00"}
    with time_machine(ordered_at, settings=settings) as machine:
        machine.happen(machine.order_placed("bob@example.com", timezone="America/New_York"))
        (row,) = machine.deliveries("bob@example.com")
        assert (row.status, row.send_at) == (DeliveryStatus.SCHEDULED, expected)
        assert row.reason is not None and row.reason.startswith("quiet hours (09:00-20:00 local)")

        machine.advance(timedelta(days=1))
        assert machine.emails("bob@example.com") == [Sent("evening", expected)]


def test_a_holdout_keeps_the_same_share_of_customers_and_never_mails_them(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
) -> None:
    folder = write_triggers(tmp_path / "triggers", {"measured": "holdout = 0.5"})
    people = [f"c{n}@example.com" for n in range(24)]
    with time_machine(MONDAY, settings={"TRIGGERS_DIR": str(folder)}) as machine:
        machine.happen(*(machine.order_placed(email) for email in people))
        machine.advance(timedelta(hours=1))
        rows = machine.deliveries()
        held = {row.customer_id for row in rows if row.status == DeliveryStatus.HELD_OUT}
        sent = {row.customer_id for row in rows if row.status == DeliveryStatus.SENT}

    assert len(rows) == 24 and held | sent == {row.customer_id for row in rows}
    assert held == {
        row.customer_id for row in rows if is_held_out("measured", row.customer_id, 0.5)
    }
    assert 0 < len(held) < 24
    assert all(row.sent_at is None for row in rows if row.status == DeliveryStatus.HELD_OUT)


def test_once_means_once_ever_and_the_second_match_is_skipped_saying_so(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
) -> None:
    folder = write_triggers(tmp_path / "triggers", {"welcome": "once = true"})
    with time_machine(MONDAY, settings={"TRIGGERS_DIR": str(folder)}) as machine:
        machine.happen(machine.order_placed("ana@example.com"))
        machine.advance(timedelta(days=400))
        machine.happen(machine.order_placed("ana@example.com"))
        machine.advance(timedelta(hours=1))
        first, second = machine.deliveries("ana@example.com")

    assert first.status == DeliveryStatus.SENT
    assert second.status == DeliveryStatus.SKIPPED
    assert second.reason == "once: welcome was sent or scheduled before"


def test_transactional_email_keeps_no_quiet_hours_and_needs_no_marketing_consent(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
) -> None:
    folder = write_triggers(tmp_path / "triggers", {"receipt": 'class = "transactional"'})
    night = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    settings = {"TRIGGERS_DIR": str(folder), "SEND_WINDOW": "09:00-20:00"}
    with time_machine(night, settings=settings) as machine:
        machine.happen(machine.order_placed("ana@example.com", accepts_marketing=False))
        emails = machine.emails("ana@example.com")

    assert emails == [Sent("receipt", night)]


def test_one_order_told_twice_and_paid_before_placed_gets_one_thank_you_at_its_own_time(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    """The shipped triggers: a Shopify order whose `paid` arrives first, then its `create`,
    then the same order again from an import of the shop's history under another event id."""
    with time_machine(MONDAY) as machine:
        placed = machine.order_placed("ana@example.com", locale="en")
        told = placed.model_dump(mode="json", exclude_none=True)
        machine.advance(timedelta(minutes=5))
        paid_first = {**told, "id": "order:1:paid", "type": "order.paid"}
        paid_first["occurred_at"] = machine.now.isoformat()
        imported = {**told, "id": "history-line-1"}
        machine.happen(CanonicalEvent.model_validate(paid_first))
        machine.happen(placed)
        machine.advance(timedelta(minutes=10))
        machine.happen(CanonicalEvent.model_validate(imported))
        machine.advance(timedelta(hours=3))

        assert [sent.trigger for sent in machine.emails("ana@example.com")] == ["thank-you"]
        # One row, not a second one the day's budget happens to hold back.
        rows = machine.deliveries("ana@example.com")
        assert [row.trigger for row in rows].count("thank-you") == 1
        [thank_you] = machine.emails("ana@example.com")
        assert thank_you.sent_at == MONDAY + timedelta(hours=2)  # two hours after the order
        ana = machine.db.exec(select(Customer)).one()
        assert (ana.orders_count, ana.last_order_at) == (1, MONDAY)  # placed, not paid, time
