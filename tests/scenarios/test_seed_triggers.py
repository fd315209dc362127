"""The seed triggers end to end on a simulated clock: a birthday at ten local time from the
daily date sweep, and a congratulation when the segment refresh moves someone up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import update
from sqlmodel import col

from models import Customer, DeliveryStatus
from worker.demo.time_machine import Sent, time_machine
from worker.runtime import Runtime


def test_a_birthday_note_goes_out_at_ten_in_the_customers_zone(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    start = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    with time_machine(start, settings={"SEND_WINDOW": "09:00-20:00"}) as machine:
        signed_up = partial(machine.event, "customer.created", accepts_marketing=True)
        machine.happen(
            signed_up("kenji@example.com", birthday="1988-12-05", timezone="Asia/Tokyo"),
            signed_up("ana@example.com", birthday="1990-12-05", timezone="America/Lima"),
            signed_up("bo@example.com", birthday="1990-12-07"),
        )
        machine.travel_to(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
        emails = {email: machine.emails(f"{email}@example.com") for email in ("kenji", "ana", "bo")}

    # 10:00 in Tokyo (UTC+9) is 01:00 UTC; in Lima (UTC-5) 15:00 UTC; Bo's is on the 7th.
    assert emails["kenji"] == [Sent("birthday", datetime(2026, 12, 5, 1, 0, tzinfo=UTC))]
    assert emails["ana"] == [Sent("birthday", datetime(2026, 12, 5, 15, 0, tzinfo=UTC))]
    assert emails["bo"] == []


def test_moving_up_to_champions_brings_a_congratulation(runtime: Runtime) -> None:  # noqa: ARG001
    start = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    people = [f"c{n}@example.com" for n in range(6)]
    with time_machine(start) as machine:
        machine.happen(*(machine.order_placed(email, total="20.00") for email in people))
        machine.refresh_segments()
        before = {d.id for d in machine.deliveries()}
        # c0 becomes the shop's best customer: many orders, big ones, recently.
        machine.db.execute(
            update(Customer)
            .where(col(Customer.email) == "c0@example.com")
            .values(orders_count=12, total_spent=300_000, last_order_at=start + timedelta(days=1))
        )
        machine.db.commit()
        machine.advance(timedelta(days=1, hours=1))  # the next daily refresh moves c0 up
        found = [d for d in machine.deliveries("c0@example.com") if d.id not in before]
        moved = [d for d in found if d.trigger == "moved-up"]
        others = [d for p in people[1:] for d in machine.deliveries(p) if d.trigger == "moved-up"]

    assert others == []
    [congratulation] = moved
    # The refresh ran at midnight; the trigger's `at` puts the email at 10:00 the same day.
    assert congratulation.status == DeliveryStatus.SENT
    assert congratulation.sent_at == start + timedelta(days=1)
    assert congratulation.cause_event_id is not None
