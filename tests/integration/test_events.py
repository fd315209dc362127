"""`process`: one stored event → customer facts → cancelled and new scheduled deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Event, EventStatus, Order
from tests.support.factories import customer_event, order_event, shipped_message
from worker.canonical import CanonicalEvent
from worker.delivery import sending
from worker.errors import PermanentError
from worker.intake.ingest import store_events
from worker.processing.events import process, process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def store(db: Session, event: CanonicalEvent, *, now: datetime) -> int:
    [event_id] = store_events(db, [event], now=now).stored
    return event_id


def handle(db: Session, runtime: Runtime, event: CanonicalEvent, *, now: datetime) -> list[int]:
    """Stores one event and processes it at `now`; returns the ids of deliveries due now."""
    return process(
        db,
        store(db, event, now=now),
        now=now,
        scheduler=Scheduler(runtime.triggers, runtime.settings),
    )


def place(
    db: Session,
    runtime: Runtime,
    number: int,
    *,
    at: datetime,
    total: str = "40.00",
    email: str = "ana@example.com",
    type: str = "order.placed",
) -> list[int]:
    """The customer at `email` places (or moves on) order `number` at `at`, seen at once."""
    event = order_event(
        event_id=f"ord-{number}-{type}",
        order_id=str(number),
        at=at,
        total=total,
        email=email,
        type=type,
    )
    return handle(db, runtime, event, now=at)


def customer(db: Session, email: str = "ana@example.com") -> Customer:
    db.expire_all()
    return db.exec(select(Customer).where(col(Customer.email) == email)).one()


def deliveries(db: Session, trigger: str, email: str = "ana@example.com") -> list[Delivery]:
    db.expire_all()
    query = (
        select(Delivery)
        .where(
            col(Delivery.trigger) == trigger, col(Delivery.customer_id) == customer(db, email).id
        )
        .order_by(col(Delivery.id))
    )
    return list(db.exec(query).all())


def set_segment(db: Session, segment: str, email: str = "ana@example.com") -> None:
    row = customer(db, email)
    row.segment = segment
    db.add(row)
    db.commit()


def test_customer_facts_add_up_over_several_orders(db: Session, runtime: Runtime) -> None:
    place(db, runtime, 1, at=T0, total="30.00")
    place(db, runtime, 2, at=T0 + 10 * DAY, total="45.90")
    place(db, runtime, 3, at=T0 + 20 * DAY, total="60.01")

    ana = customer(db)
    assert (ana.orders_count, ana.total_spent, ana.average_order_value) == (3, 13591, 4530)
    assert ana.currency == "EUR"
    assert (ana.first_order_at, ana.last_order_at) == (T0, T0 + 20 * DAY)
    assert [o.total for o in db.exec(select(Order).order_by(col(Order.id))).all()] == [
        3000,
        4590,
        6001,
    ]


def test_orders_arriving_out_of_order_give_the_same_facts(db: Session, runtime: Runtime) -> None:
    place(db, runtime, 2, at=T0 + 10 * DAY, total="45.90")
    place(db, runtime, 1, at=T0, total="30.00")

    ana = customer(db)
    assert (ana.orders_count, ana.total_spent) == (2, 7590)
    assert (ana.first_order_at, ana.last_order_at) == (T0, T0 + 10 * DAY)


def test_a_cancelled_order_no_longer_counts(db: Session, runtime: Runtime) -> None:
    place(db, runtime, 1, at=T0, total="30.00")
    place(db, runtime, 2, at=T0 + 10 * DAY, total="50.00")
    place(db, runtime, 3, at=T0 + 20 * DAY, total="70.00")

    place(db, runtime, 3, at=T0 + 21 * DAY, total="70.00", type="order.cancelled")

    ana = customer(db)
    assert (ana.orders_count, ana.total_spent, ana.average_order_value) == (2, 8000, 4000)
    assert ana.last_order_at == T0 + 10 * DAY
    cancelled = db.exec(select(Order).where(col(Order.source_order_id) == "3")).one()
    assert cancelled.status == "cancelled"


def test_a_late_paid_event_does_not_revive_a_cancelled_order(db: Session, runtime: Runtime) -> None:
    place(db, runtime, 1, at=T0, total="30.00")
    place(db, runtime, 1, at=T0 + DAY, total="30.00", type="order.cancelled")
    place(db, runtime, 1, at=T0 + 2 * DAY, total="30.00", type="order.paid")

    assert customer(db).orders_count == 0
    assert db.exec(select(Order)).one().status == "cancelled"


def test_processing_the_same_event_twice_does_nothing_the_second_time(
    db: Session, runtime: Runtime
) -> None:
    event_id = store(db, order_event(event_id="ord-1", order_id="1", at=T0), now=T0)
    first = process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    again = process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))

    assert (first, again) == ([], [])
    assert customer(db).orders_count == 1
    assert len(deliveries(db, "thank-you")) == 1
    assert db.get_one(Event, event_id).status == EventStatus.PROCESSED


def test_a_first_order_schedules_the_thank_you_two_hours_later(
    db: Session, runtime: Runtime
) -> None:
    assert place(db, runtime, 1, at=T0) == []

    [thank_you] = deliveries(db, "thank-you")
    assert (thank_you.status, thank_you.send_at) == (
        DeliveryStatus.SCHEDULED,
        T0 + 2 * timedelta(hours=1),
    )
    assert (thank_you.message, thank_you.dedupe_key) == (
        shipped_message("thank-you", thank_you.customer_id),
        # One order starts it once, however many events tell of it.
        f"thank-you=order:{db.exec(select(Order)).one().id}",
    )
    place(db, runtime, 2, at=T0 + DAY)
    assert len(deliveries(db, "thank-you")) == 1  # a second order is not a first order


def test_a_new_order_cancels_the_waiting_win_back_but_not_the_one_it_starts(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, at=T0)
    set_segment(db, "loyal")
    place(db, runtime, 2, at=T0 + 10 * DAY)
    # The first order's wait (60 days: one order, no gap yet) gave way to the second's.
    first, waiting = deliveries(db, "win-back")
    assert (first.status, first.send_at) == (DeliveryStatus.CANCELLED, T0 + 60 * DAY)
    # Twice the usual 10-day gap is 20 days, raised to the trigger's 30-day floor.
    assert (waiting.status, waiting.send_at) == (DeliveryStatus.SCHEDULED, T0 + 40 * DAY)

    place(db, runtime, 3, at=T0 + 20 * DAY)

    _, cancelled, started = deliveries(db, "win-back")
    third = db.exec(select(Event).where(col(Event.source_event_id) == "ord-3-order.placed")).one()
    assert cancelled.id == waiting.id
    assert cancelled.status == DeliveryStatus.CANCELLED
    assert cancelled.reason == f"order.placed at 2026-05-21 10:00 (event {third.id})"
    assert (started.status, started.cause_event_id) == (DeliveryStatus.SCHEDULED, third.id)
    assert started.send_at == T0 + 50 * DAY


def test_a_new_order_leaves_another_customers_win_back_alone(db: Session, runtime: Runtime) -> None:
    place(db, runtime, 1, at=T0, email="bo@example.com")
    set_segment(db, "champions", email="bo@example.com")
    place(db, runtime, 2, at=T0 + DAY, email="bo@example.com")

    place(db, runtime, 3, at=T0 + 2 * DAY)

    bo_first, bo_win_back = deliveries(db, "win-back", email="bo@example.com")
    assert bo_first.status == DeliveryStatus.CANCELLED  # by Bo's own second order
    assert bo_win_back.status == DeliveryStatus.SCHEDULED


@pytest.mark.parametrize(("segment", "status"), [("lost", "cancelled"), ("loyal", "sent")])
def test_the_win_back_goes_only_to_the_segments_it_names_when_its_wait_ends(
    db: Session, runtime: Runtime, segment: str, status: str
) -> None:
    place(db, runtime, 1, at=T0)
    place(db, runtime, 2, at=T0 + DAY)  # no segment yet: the wait starts all the same
    waiting = deliveries(db, "win-back")[-1]
    assert waiting.status == DeliveryStatus.SCHEDULED
    set_segment(db, segment)  # the daily refresh, during the wait
    others = update(Delivery).where(col(Delivery.id) != waiting.id)  # nothing else in budget
    db.execute(others.values(status=DeliveryStatus.CANCELLED))
    db.commit()

    sending.deliver(db, waiting.id or 0, now=waiting.send_at, runtime=runtime)

    db.expire_all()
    done = db.get(Delivery, waiting.id)
    assert done is not None and str(done.status) == status
    if status == "cancelled":
        assert done.reason is not None and done.reason.startswith("`send_if` does not hold")


@pytest.mark.parametrize(
    ("second_total", "fires"),
    [("59.99", False), ("60.00", True), ("120.00", True)],
)
def test_the_upsell_fires_for_an_order_at_least_one_and_a_half_times_the_usual(
    db: Session, runtime: Runtime, second_total: str, fires: bool
) -> None:
    place(db, runtime, 1, at=T0, total="40.00")
    place(db, runtime, 2, at=T0 + DAY, total=second_total)

    upsells = deliveries(db, "upsell")
    assert len(upsells) == int(fires)
    if fires:
        assert upsells[0].status == DeliveryStatus.SCHEDULED
        assert upsells[0].send_at == T0 + 4 * DAY
        assert upsells[0].reason is None


def test_the_upsell_compares_with_the_average_before_the_order_not_after(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, at=T0, total="40.00")
    place(db, runtime, 2, at=T0 + DAY, total="40.00")
    # 70 is 1.75 times the usual 40 before it, but only 1.4 times the 50 average after it.
    place(db, runtime, 3, at=T0 + 2 * DAY, total="70.00")
    assert [d.status for d in deliveries(db, "upsell")] == [DeliveryStatus.SCHEDULED]


def test_a_first_order_is_never_an_upsell_however_large(db: Session, runtime: Runtime) -> None:
    place(db, runtime, 1, at=T0, total="900.00")
    assert deliveries(db, "upsell") == []


def test_a_second_upsell_within_the_cooldown_is_skipped_with_the_reason(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, at=T0, total="40.00")
    place(db, runtime, 2, at=T0 + DAY, total="100.00")
    place(db, runtime, 3, at=T0 + 2 * DAY, total="300.00")

    first, second = deliveries(db, "upsell")
    assert first.status == DeliveryStatus.SCHEDULED
    assert second.status == DeliveryStatus.SKIPPED
    assert second.reason == "cooldown: upsell already sent or scheduled within it"


def test_an_event_older_than_a_day_is_recorded_as_missed_not_sent_late(
    db: Session, runtime: Runtime
) -> None:
    now = T0 + 3 * DAY
    due = handle(db, runtime, order_event(event_id="old", order_id="1", at=T0), now=now)

    assert due == []
    [thank_you] = deliveries(db, "thank-you")
    assert thank_you.status == DeliveryStatus.SKIPPED
    assert thank_you.reason == "missed: was due 2026-05-01 12:00, too late to send"
    assert customer(db).orders_count == 1  # the facts still count it


def test_an_event_a_few_hours_late_is_due_at_once(db: Session, runtime: Runtime) -> None:
    now = T0 + timedelta(hours=5)
    due = handle(db, runtime, order_event(event_id="late", order_id="1", at=T0), now=now)

    [thank_you] = deliveries(db, "thank-you")
    assert due == [thank_you.id]
    assert thank_you.status == DeliveryStatus.SCHEDULED


def test_a_payload_that_does_not_fit_is_kept_failed_with_the_reason(
    db: Session, runtime: Runtime
) -> None:
    payload = order_event(event_id="bad", order_id="1", at=T0).model_dump(mode="json")
    payload["order"]["total"] = "12,50"  # stored by an older version that did not check
    row = Event(
        source="api",
        source_event_id="bad",
        type="order.placed",
        occurred_at=T0,
        received_at=T0,
        payload=payload,
    )
    db.add(row)
    db.commit()
    assert row.id is not None

    with pytest.raises(PermanentError, match="payload does not fit the canonical event"):
        process(db, row.id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))

    db.expire_all()
    failed = db.get_one(Event, row.id)
    assert failed.status == EventStatus.FAILED
    assert failed.error is not None
    assert "order.total" in failed.error
    assert failed.attempts == 1
    assert db.exec(select(Customer)).all() == []
    assert db.exec(select(Delivery)).all() == []


def test_an_unknown_customer_id_without_an_email_fails_permanently(
    db: Session, runtime: Runtime
) -> None:
    event = CanonicalEvent.model_validate(
        {
            "id": "upd-1",
            "type": "customer.updated",
            "occurred_at": T0.isoformat(),
            "customer": {"id": "c-99", "first_name": "Nobody"},
        }
    )
    event_id = store(db, event, now=T0)

    with pytest.raises(PermanentError, match="unknown customer id 'c-99' from api"):
        process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))

    db.expire_all()
    failed = db.get_one(Event, event_id)
    assert failed.status == EventStatus.FAILED
    assert failed.error == "unknown customer id 'c-99' from api: no email to create one"


def test_a_customer_first_seen_with_an_email_is_found_again_by_id_alone(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, customer_event(event_id="c-1", at=T0, id="c-17"), now=T0)
    later = CanonicalEvent.model_validate(
        {
            "id": "c-2",
            "type": "customer.updated",
            "occurred_at": (T0 + DAY).isoformat(),
            "customer": {"id": "c-17", "first_name": "Ana", "locale": "es"},
        }
    )
    handle(db, runtime, later, now=T0 + DAY)

    ana = customer(db)
    assert (ana.first_name, ana.locale) == ("Ana", "es")
    assert len(db.exec(select(Customer)).all()) == 1


def test_a_late_older_consent_event_does_not_undo_a_newer_one(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, customer_event(event_id="yes", at=T0, accepts_marketing=True), now=T0)
    withdrawn = customer_event(event_id="no", at=T0 + 2 * DAY, accepts_marketing=False)
    handle(db, runtime, withdrawn, now=T0 + 2 * DAY)
    late = customer_event(event_id="late-yes", at=T0 + DAY, accepts_marketing=True)
    handle(db, runtime, late, now=T0 + 3 * DAY)

    ana = customer(db)
    assert ana.accepts_marketing is False
    assert ana.consent_changed_at == T0 + 2 * DAY


def test_a_late_consent_does_not_undo_a_refusal_given_on_first_sight(
    db: Session, runtime: Runtime
) -> None:
    refused = customer_event(event_id="no", at=T0 + DAY, accepts_marketing=False)
    handle(db, runtime, refused, now=T0 + DAY)
    late = customer_event(event_id="late-yes", at=T0, accepts_marketing=True)
    handle(db, runtime, late, now=T0 + 2 * DAY)

    assert customer(db).accepts_marketing is False


def test_a_late_consent_does_not_undo_a_refusal_repeated_later(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, customer_event(event_id="yes", at=T0, accepts_marketing=True), now=T0)
    handle(
        db,
        runtime,
        customer_event(event_id="no", at=T0 + DAY, accepts_marketing=False),
        now=T0 + DAY,
    )
    again = customer_event(event_id="no-again", at=T0 + 3 * DAY, accepts_marketing=False)
    handle(db, runtime, again, now=T0 + 3 * DAY)
    late = customer_event(event_id="late-yes", at=T0 + 2 * DAY, accepts_marketing=True)
    handle(db, runtime, late, now=T0 + 4 * DAY)

    assert customer(db).accepts_marketing is False


def test_a_newer_consent_event_does_change_consent(db: Session, runtime: Runtime) -> None:
    handle(db, runtime, customer_event(event_id="no", at=T0, accepts_marketing=False), now=T0)
    handle(
        db,
        runtime,
        customer_event(event_id="yes", at=T0 + DAY, accepts_marketing=True),
        now=T0 + DAY,
    )

    ana = customer(db)
    assert (ana.accepts_marketing, ana.consent_changed_at, ana.consent_source) == (
        True,
        T0 + DAY,
        "api",
    )


def store_all(db: Session, events: list[CanonicalEvent], *, now: datetime) -> list[int]:
    return store_events(db, events, now=now).stored


def test_a_batch_gives_each_event_what_it_would_get_alone(db: Session, runtime: Runtime) -> None:
    first = order_event(event_id="ord-1", order_id="1", at=T0, total="40.00")
    second = order_event(event_id="ord-2", order_id="2", at=T0 + DAY, total="60.00")
    ids = store_all(db, [first, second], now=T0 + DAY)

    result = process_many(
        db, ids, now=T0 + DAY, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    [thank_you] = deliveries(db, "thank-you")  # the first order was a first order, not the second
    [upsell] = deliveries(db, "upsell")  # 60 is 1.5 times the 40 usual before it
    assert (thank_you.cause_event_id, upsell.cause_event_id) == (ids[0], ids[1])
    assert result.due == [thank_you.id]  # two hours after T0: due; the upsell waits 3 days
    assert result.failed == {}
    ana = customer(db)
    assert (ana.orders_count, ana.total_spent, ana.average_order_value) == (2, 10000, 5000)
    linked = db.exec(select(Event).where(col(Event.id).in_(ids))).all()
    assert {(e.status, e.customer_id) for e in linked} == {(EventStatus.PROCESSED, ana.id)}


def test_a_later_order_in_the_same_batch_cancels_the_win_back_an_earlier_one_started(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, at=T0)
    set_segment(db, "loyal")
    second = order_event(event_id="ord-2", order_id="2", at=T0 + 10 * DAY)
    third = order_event(event_id="ord-3", order_id="3", at=T0 + 20 * DAY)
    ids = store_all(db, [second, third], now=T0 + 20 * DAY)

    process_many(
        db, ids, now=T0 + 20 * DAY, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    _, cancelled, started = deliveries(db, "win-back")  # the first order's, cancelled too
    assert (cancelled.cause_event_id, cancelled.status) == (ids[0], DeliveryStatus.CANCELLED)
    assert cancelled.reason == f"order.placed at 2026-05-21 10:00 (event {ids[1]})"
    assert (started.cause_event_id, started.status) == (ids[1], DeliveryStatus.SCHEDULED)


def test_an_event_that_fails_for_good_leaves_the_rest_of_its_batch_processed(
    db: Session, runtime: Runtime
) -> None:
    ana = order_event(event_id="ord-1", order_id="1", at=T0)
    nobody = CanonicalEvent.model_validate(
        {
            "id": "upd-1",
            "type": "customer.updated",
            "occurred_at": T0.isoformat(),
            "customer": {"id": "c-99", "first_name": "Nobody"},
        }
    )
    bo = order_event(event_id="ord-2", order_id="2", at=T0, email="bo@example.com")
    ids = store_all(db, [ana, nobody, bo], now=T0)
    later = T0 + 3 * HOUR  # the thank-yous are due

    result = process_many(
        db, ids, now=later, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    assert result.failed == {ids[1]: "unknown customer id 'c-99' from api: no email to create one"}
    db.expire_all()
    statuses = [db.get_one(Event, event_id).status for event_id in ids]
    assert statuses == [EventStatus.PROCESSED, EventStatus.FAILED, EventStatus.PROCESSED]
    assert len(deliveries(db, "thank-you")) == 1
    assert len(deliveries(db, "thank-you", email="bo@example.com")) == 1
    assert sorted(result.due) == sorted(
        d.id for d in db.exec(select(Delivery)).all() if d.trigger == "thank-you" and d.id
    )


def test_a_batch_processed_again_does_nothing_the_second_time(
    db: Session, runtime: Runtime
) -> None:
    events = [
        order_event(event_id=f"ord-{n}", order_id=str(n), at=T0, email=f"c{n}@example.com")
        for n in range(3)
    ]
    ids = store_all(db, events, now=T0)
    later = T0 + 3 * HOUR  # the thank-yous are due
    first = process_many(
        db, ids, now=later, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    again = process_many(
        db, ids, now=later, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    assert len(first.due) == 3
    assert (again.due, again.failed) == ([], {})
    db.expire_all()
    # A thank-you, a second-order nudge and a win-back's wait each.
    assert len(db.exec(select(Delivery)).all()) == 9
    assert len(db.exec(select(Order)).all()) == 3


def test_an_id_linked_by_an_earlier_event_of_the_batch_finds_the_same_customer(
    db: Session, runtime: Runtime
) -> None:
    def by_id_alone(event_id: str, **fields: str) -> CanonicalEvent:
        return CanonicalEvent.model_validate(
            {
                "id": event_id,
                "type": "customer.updated",
                "occurred_at": (T0 + DAY).isoformat(),
                "customer": {"id": "c-17", **fields},
            }
        )

    events = [
        customer_event(event_id="c-1", at=T0, id="c-17", first_name="Ana"),
        by_id_alone("c-2", first_name="Anita"),
        by_id_alone("c-3", email="other@example.com", last_name="Ruiz"),
    ]
    ids = store_all(db, events, now=T0 + DAY)

    result = process_many(
        db, ids, now=T0 + DAY, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    assert result.failed == {}
    [ana] = db.exec(select(Customer)).all()
    assert (ana.email, ana.first_name, ana.last_name) == ("ana@example.com", "Anita", "Ruiz")


def refuse_first_name(db: Session, database_url: str, name: str) -> None:
    """A trigger that makes the database refuse a customer called `name`: a stand-in for any
    value the checks at the door did not foresee. (In the test's transaction on PostgreSQL,
    in its own file on SQLite: gone after the test.)"""
    if database_url.startswith("sqlite"):
        db.execute(
            text(
                "CREATE TRIGGER refuse_name BEFORE INSERT ON customers "
                f"WHEN NEW.first_name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    else:
        db.execute(
            text(
                "CREATE FUNCTION refuse_name() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.first_name = '{name}' THEN "
                "RAISE EXCEPTION 'refused' USING ERRCODE = '22000'; END IF; RETURN NEW; END $$"
            )
        )
        db.execute(
            text(
                "CREATE TRIGGER refuse_name BEFORE INSERT ON customers "
                "FOR EACH ROW EXECUTE FUNCTION refuse_name()"
            )
        )
    db.commit()


def test_a_batch_meeting_an_error_no_check_foresaw_fails_only_the_event_that_meets_it_alone(
    db: Session, runtime: Runtime, database_url: str
) -> None:
    refuse_first_name(db, database_url, "Poison")
    events = [
        order_event(event_id=f"ord-{n}", order_id=str(n), at=T0, email=f"c{n}@example.com")
        for n in range(4)
    ]
    events[2] = order_event(
        event_id="ord-2", order_id="2", at=T0, email="c2@example.com", first_name="Poison"
    )
    ids = store_all(db, events, now=T0)
    later = T0 + 3 * HOUR  # the thank-yous are due

    result = process_many(
        db, ids, now=later, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )

    kind = "IntegrityError" if database_url.startswith("sqlite") else "DataException"
    reason = f"the database refused a value ({kind}); no retry can help"
    assert result.failed == {ids[2]: reason}
    db.expire_all()
    rows = [db.get_one(Event, event_id) for event_id in ids]
    assert [(row.status, row.error, row.attempts) for row in rows] == [
        (EventStatus.PROCESSED, None, 0),
        (EventStatus.PROCESSED, None, 0),
        (EventStatus.FAILED, reason, 1),
        (EventStatus.PROCESSED, None, 0),
    ]
    thank_yous = [d for d in db.exec(select(Delivery)).all() if d.trigger == "thank-you"]
    assert sorted(d.cause_event_id for d in thank_yous) == [ids[0], ids[1], ids[3]]
    assert sorted(result.due) == sorted(d.id for d in thank_yous if d.id)
    assert sorted(c.email for c in db.exec(select(Customer)).all()) == [
        "c0@example.com",
        "c1@example.com",
        "c3@example.com",
    ]


def test_one_order_told_by_its_webhook_and_again_by_an_import_gets_one_thank_you(
    db: Session, runtime: Runtime
) -> None:
    webhook = order_event(event_id="order:77:placed", order_id="77", at=T0, source="shopify")
    # The import's clock put it half an hour later: the order's time stays the webhook's.
    later = T0 + 30 * timedelta(minutes=1)
    imported = order_event(event_id="import-line-12", order_id="77", at=later, source="shopify")
    handle(db, runtime, webhook, now=T0)
    handle(db, runtime, imported, now=T0 + HOUR)

    assert len(deliveries(db, "thank-you")) == 1
    assert (customer(db).orders_count, customer(db).last_order_at) == (1, T0)
    [second_order_nudge] = deliveries(db, "second-order")
    assert second_order_nudge.status == DeliveryStatus.SCHEDULED  # not cancelled by its repeat


def test_a_trigger_with_its_own_dedupe_keeps_it_and_one_per_event_stays_possible(
    db: Session, runtime: Runtime
) -> None:
    """`dedupe = "order.id"` (bigger-basket) is kept as written, not replaced by the order row."""
    for number in range(1, 4):
        place(db, runtime, number, at=T0 + number * DAY, total="12.00")
    [basket] = deliveries(db, "bigger-basket")
    assert basket.dedupe_key == "bigger-basket=3"


def test_an_order_paid_before_it_is_placed_keeps_the_time_it_was_placed(
    db: Session, runtime: Runtime
) -> None:
    placed_at = T0 - 3 * HOUR
    paid = order_event(
        event_id="ord-1-paid",
        order_id="1",
        at=T0,
        type="order.paid",
        order={"placed_at": placed_at.isoformat()},
    )
    handle(db, runtime, paid, now=T0)
    assert customer(db).last_order_at == placed_at

    placed = order_event(event_id="ord-1-placed", order_id="1", at=placed_at)
    handle(db, runtime, placed, now=T0 + HOUR)
    ana = customer(db)
    assert (ana.first_order_at, ana.last_order_at) == (placed_at, placed_at)
    assert db.exec(select(Order)).one().placed_at == placed_at


def test_a_paid_event_without_the_order_time_is_corrected_by_the_placed_event(
    db: Session, runtime: Runtime
) -> None:
    place(db, runtime, 1, at=T0 - 30 * DAY)
    paid_first = order_event(event_id="ord-2-paid", order_id="2", at=T0, type="order.paid")
    handle(db, runtime, paid_first, now=T0)
    placed = order_event(event_id="ord-2-placed", order_id="2", at=T0 - 2 * DAY)
    handle(db, runtime, placed, now=T0 + HOUR)

    assert customer(db).last_order_at == T0 - 2 * DAY
