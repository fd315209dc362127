"""The shipped triggers do what their descriptions say, on a simulated clock through the real
pipeline: the holiday card goes to this year's buyers only, a one-order customer who goes quiet
gets the win-back after 60 days, and the nudge toward a bigger basket never follows a big one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import DeliveryStatus
from worker.demo.time_machine import Sent, time_machine
from worker.runtime import Runtime


def test_the_holiday_card_goes_to_this_years_buyers_and_not_to_last_years(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    start = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)
    with time_machine(start) as machine:
        machine.happen(
            machine.order_placed("ana@example.com", at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
            machine.order_placed("bo@example.com", at=datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        )
        machine.travel_to(datetime(2026, 12, 21, 0, 0, tzinfo=UTC))
        cards = {
            email: [s for s in machine.emails(email) if s.trigger == "holiday-card"]
            for email in ("ana@example.com", "bo@example.com")
        }

    # 09:30 on 20 December in the shop's zone (UTC).
    assert cards["ana@example.com"] == [
        Sent("holiday-card", datetime(2026, 12, 20, 9, 30, tzinfo=UTC))
    ]
    assert cards["bo@example.com"] == []


def test_a_one_order_customer_who_goes_quiet_gets_the_win_back_after_sixty_days(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    with time_machine(start) as machine:
        machine.happen(machine.order_placed("ana@example.com"))
        machine.advance(timedelta(days=62))
        win_backs = [s for s in machine.emails("ana@example.com") if s.trigger == "win-back"]

    # 60 days after the order, at 10:00 in the shop's zone.
    assert win_backs == [Sent("win-back", start + timedelta(days=60))]


def test_bigger_basket_follows_a_third_small_order_and_never_a_big_one(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    with time_machine(start) as machine:
        for person in ("ana@example.com", "bo@example.com"):
            for _ in range(3):
                machine.happen(machine.order_placed(person, total="10.00"))
                machine.advance(timedelta(days=1))
        # Bo's fourth basket is a big one (an average of 22.50 is still small).
        machine.happen(machine.order_placed("bo@example.com", total="60.00"))
        machine.advance(timedelta(days=10))
        nudges = {
            person: [d for d in machine.deliveries(person) if d.trigger == "bigger-basket"]
            for person in ("ana@example.com", "bo@example.com")
        }

    [ana] = nudges["ana@example.com"]
    assert ana.status == DeliveryStatus.SENT
    # Bo's only one is the third order's, cancelled by the fourth, which started none.
    [bo] = nudges["bo@example.com"]
    assert bo.status == DeliveryStatus.CANCELLED
