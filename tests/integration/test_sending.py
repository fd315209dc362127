"""`deliver`: claim → re-check eligibility → choose variant → render → provider → record."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Event, Suppression, migrate
from models.db import get_engine, session
from tests.support.deliveries import eml_name
from tests.support.factories import order_event, shipped_message
from worker.canonical import CanonicalEvent
from worker.delivery import batches
from worker.delivery.batches import deliver_many
from worker.delivery.sending import deliver
from worker.delivery.tokens import read_unsubscribe_token
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.processing.orders import OrderLines
from worker.providers import delivery_key
from worker.rendering.renderer import Renderer
from worker.runtime import Runtime
from worker.scheduling import rules
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DUE = T0 + 2 * HOUR  # the thank-you waits two hours


def handle(db: Session, runtime: Runtime, event: CanonicalEvent, *, now: datetime) -> None:
    [event_id] = store_events(db, [event], now=now).stored
    process(db, event_id, now=now, scheduler=Scheduler(runtime.triggers, runtime.settings))


def place(
    db: Session, runtime: Runtime, number: int, *, at: datetime, now: datetime | None = None
) -> None:
    event = order_event(event_id=f"ord-{number}", order_id=str(number), at=at, locale="en")
    handle(db, runtime, event, now=now or at)


def withdraw_consent(db: Session, runtime: Runtime, *, at: datetime) -> None:
    event = CanonicalEvent.model_validate(
        {
            "id": "consent-off",
            "type": "customer.updated",
            "occurred_at": at.isoformat(),
            "customer": {"email": "ana@example.com", "accepts_marketing": False},
        }
    )
    handle(db, runtime, event, now=at)


def all_of(db: Session, trigger: str) -> list[Delivery]:
    db.expire_all()
    return list(db.exec(select(Delivery).where(col(Delivery.trigger) == trigger)).all())


def only(db: Session, trigger: str) -> Delivery:
    db.expire_all()
    return db.exec(select(Delivery).where(col(Delivery.trigger) == trigger)).one()


def send(
    db: Session, runtime: Runtime, delivery: Delivery, *, now: datetime
) -> DeliveryStatus | None:
    assert delivery.id is not None
    return deliver(db, delivery.id, now=now, runtime=runtime)


def reread(db: Session, delivery: Delivery) -> Delivery:
    db.expire_all()
    return db.get_one(Delivery, delivery.id)


def outbox(runtime: Runtime) -> list[Path]:
    return sorted(Path(runtime.settings.outbox_dir).glob("*.eml"))


def sent_message(runtime: Runtime) -> EmailMessage:
    [path] = outbox(runtime)
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def thank_you(db: Session, runtime: Runtime) -> Delivery:
    """Ana's first order at T0: her thank-you is scheduled for two hours later."""
    place(db, runtime, 1, at=T0)
    return only(db, "thank-you")


def test_an_outbox_shared_with_another_database_never_takes_its_email_for_ours(
    db: Session, runtime: Runtime, thank_you: Delivery, tmp_path: Path
) -> None:
    """After `make demo`, a `ladder run` on a fresh database found the demo's
    `000000005.eml`, recorded its own delivery 5 as sent and wrote nothing."""
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    migrate.upgrade(other_url)
    other = Runtime(runtime.settings.model_copy(update={"database_url": other_url}))
    with session(other_url) as other_db:
        bo = order_event(event_id="bo-1", order_id="b1", at=T0 - DAY, email="bo@example.com")
        handle(other_db, other, bo, now=T0 - DAY)
        # Its thank-you has our thank-you's id, as delivery 5 of one database has another's.
        other_db.execute(
            update(Delivery).where(col(Delivery.trigger) == "thank-you").values(id=thank_you.id)
        )
        other_db.commit()
        assert thank_you.id is not None
        sent = deliver(other_db, thank_you.id, now=DUE - DAY, runtime=other)
        assert sent == DeliveryStatus.SENT
    get_engine(other_url).dispose()

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.SENT

    files = outbox(runtime)
    assert len(files) == 2
    recipients = {email.message_from_bytes(path.read_bytes())["To"]: path.name for path in files}
    assert set(recipients) == {"ana@example.com", "bo@example.com"}
    assert reread(db, thank_you).provider_message_id == f"file:{recipients['ana@example.com']}"


def test_a_due_delivery_is_sent_once_and_recorded(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.SENT

    sent = reread(db, thank_you)
    assert sent.status == DeliveryStatus.SENT
    assert sent.variant == f"{shipped_message('thank-you', sent.customer_id)}/default.html.j2"
    assert (sent.sent_at, sent.attempts, sent.reason) == (DUE, 1, None)
    assert sent.provider_message_id == f"file:{delivery_key(sent.id or 0, sent.created_at)}.eml"
    message = sent_message(runtime)
    assert message["To"] == "ana@example.com"
    assert (
        message["Subject"]
        == {
            "thank_you": "Thank you for your first order, Ana",
            "thank_you_b": "What happens next with your first order, Ana",
        }[shipped_message("thank-you", sent.customer_id)]
    )
    assert message["From"] == f"{runtime.settings.shop_name} <{runtime.settings.sender}>"


def test_the_sent_email_carries_a_working_one_click_unsubscribe(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    send(db, runtime, thank_you, now=DUE)

    message = sent_message(runtime)
    link = message["List-Unsubscribe"].strip().removeprefix("<").removesuffix(">")
    assert link.startswith(f"{runtime.settings.public_url}/u/")
    token = link.rpartition("/")[2]
    read = read_unsubscribe_token(runtime.settings.secret_key(), token)
    assert read == (thank_you.customer_id, "marketing")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert f"Unsubscribe ({link})" in text.get_content()


def test_a_delivery_that_is_not_due_yet_is_left_alone(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    assert send(db, runtime, thank_you, now=DUE - HOUR) is None

    waiting = reread(db, thank_you)
    assert (waiting.status, waiting.attempts) == (DeliveryStatus.SCHEDULED, 0)
    assert outbox(runtime) == []


def test_a_cancelled_delivery_is_not_sent(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    thank_you.status = DeliveryStatus.CANCELLED
    db.add(thank_you)
    db.commit()

    assert send(db, runtime, thank_you, now=DUE) is None
    assert reread(db, thank_you).status == DeliveryStatus.CANCELLED
    assert outbox(runtime) == []


def test_a_second_deliver_for_the_same_delivery_sends_nothing_more(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    send(db, runtime, thank_you, now=DUE)
    again = send(db, runtime, thank_you, now=DUE + HOUR)

    assert again is None
    assert len(outbox(runtime)) == 1
    sent = reread(db, thank_you)
    assert (sent.status, sent.sent_at, sent.attempts) == (DeliveryStatus.SENT, DUE, 1)


def test_a_customer_who_withdrew_consent_meanwhile_is_not_mailed(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    withdraw_consent(db, runtime, at=T0 + HOUR)

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.SUPPRESSED
    suppressed = reread(db, thank_you)
    assert (suppressed.status, suppressed.reason) == (
        DeliveryStatus.SUPPRESSED,
        "no marketing consent",
    )
    assert outbox(runtime) == []


def test_an_address_on_the_suppression_list_is_not_mailed(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    db.add(Suppression(email="ana@example.com", reason="bounced", created_at=T0 + HOUR))
    db.commit()

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.SUPPRESSED
    suppressed = reread(db, thank_you)
    assert suppressed.reason == "address is on the suppression list"
    assert outbox(runtime) == []


def test_a_newer_unless_event_cancels_the_delivery_at_send_time(
    db: Session, runtime: Runtime
) -> None:
    # The later order is processed first, so nothing was waiting for it to cancel; the
    # earlier one then starts a win-back that the send-time check must stop.
    place(db, runtime, 2, at=T0 + 10 * DAY)
    # The later order's own wait set aside (its cooldown would skip the earlier one's).
    [own] = all_of(db, "win-back")
    own.status = DeliveryStatus.CANCELLED
    ana = db.exec(select(Customer)).one()
    ana.segment = "loyal"
    db.add_all([own, ana])
    db.commit()
    place(db, runtime, 1, at=T0, now=T0 + 10 * DAY)
    first = db.exec(select(Event).where(col(Event.source_event_id) == "ord-1")).one()
    [win_back] = [d for d in all_of(db, "win-back") if d.cause_event_id == first.id]
    # Twice the usual 10-day gap between the two orders is 20 days, raised to the 30-day floor.
    assert win_back.send_at == T0 + 30 * DAY

    status = send(db, runtime, win_back, now=T0 + 30 * DAY)

    newer = db.exec(select(Event).where(col(Event.source_event_id) == "ord-2")).one()
    cancelled = reread(db, win_back)
    assert status == cancelled.status == DeliveryStatus.CANCELLED
    assert cancelled.reason == f"order.placed (event {newer.id}) came first"
    assert outbox(runtime) == []


def test_a_when_that_no_longer_holds_cancels_the_delivery(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    place(db, runtime, 2, at=T0 + HOUR)  # no longer a first order when the thank-you is due

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.CANCELLED
    cancelled = reread(db, thank_you)
    assert cancelled.reason == "`when` no longer holds: customer.orders_count == 1"
    assert outbox(runtime) == []


def test_a_delivery_whose_trigger_was_removed_is_cancelled(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    thank_you.trigger = "welcome-series"
    db.add(thank_you)
    db.commit()

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.CANCELLED
    assert reread(db, thank_you).reason == "trigger 'welcome-series' no longer exists"


def test_a_missing_template_fails_the_delivery_with_the_file_to_add(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    thank_you.message = "name_day"
    db.add(thank_you)
    db.commit()

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.FAILED
    failed = reread(db, thank_you)
    assert failed.status == DeliveryStatus.FAILED
    assert failed.reason == "no template for message 'name_day': add name_day/default.html.j2"
    assert outbox(runtime) == []


def test_a_template_that_would_exhaust_the_worker_fails_the_delivery_for_good(
    db: Session,
    runtime: Runtime,
    thank_you: Delivery,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not retried as if transient: the reason names the file, the line and the bound."""
    templates = tmp_path / "templates"
    shutil.copytree(runtime.settings.templates_dir, templates)
    (templates / "thank_you" / "default.html.j2").write_text(
        '{% extends "layouts/base.html.j2" %}{% block subject %}Thanks{% endblock %}\n'
        "{% block body %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% endfor %}{% endfor %}{% endblock %}\n",
        encoding="utf-8",
    )
    monkeypatch.setitem(runtime.__dict__, "renderer", Renderer(templates, "en"))

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.FAILED
    failed = reread(db, thank_you)
    assert failed.reason is not None
    assert failed.reason.startswith("thank_you/default.html.j2:2: the template takes more than")
    assert outbox(runtime) == []


def test_a_transient_provider_error_puts_the_delivery_back_for_a_retry(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    """Recorded on the row, not raised for the broker's retries: due again after the back-off,
    left to the clock's relay."""
    blocker = Path(runtime.settings.outbox_dir)
    blocker.write_text("a file where the outbox folder should be")

    assert send(db, runtime, thank_you, now=DUE) == DeliveryStatus.SCHEDULED
    waiting = reread(db, thank_you)
    assert waiting.status == DeliveryStatus.SCHEDULED
    assert waiting.reason is not None
    assert waiting.reason.startswith("will retry: cannot write")
    assert (waiting.failures, waiting.enqueued_at) == (1, None)
    min_s = runtime.settings.delivery_retry_min_s
    assert DUE + timedelta(seconds=min_s) <= waiting.send_at <= DUE + timedelta(seconds=1.2 * min_s)

    blocker.unlink()
    assert send(db, runtime, thank_you, now=DUE) is None  # not due again yet: nothing sent
    status = send(db, runtime, thank_you, now=DUE + HOUR)
    assert status == DeliveryStatus.SENT
    sent = reread(db, thank_you)
    assert (sent.attempts, sent.reason, sent.sent_at) == (2, None, DUE + HOUR)
    assert len(outbox(runtime)) == 1


def test_a_delivery_is_failed_with_the_reason_at_its_last_transient_error(
    db: Session, runtime: Runtime, thank_you: Delivery
) -> None:
    Path(runtime.settings.outbox_dir).write_text("a file where the outbox folder should be")
    limit = runtime.settings.delivery_max_failures
    now = DUE
    for failure in range(1, limit):
        assert send(db, runtime, thank_you, now=now) == DeliveryStatus.SCHEDULED
        waiting = reread(db, thank_you)
        assert (waiting.status, waiting.failures) == (DeliveryStatus.SCHEDULED, failure)
        assert waiting.send_at > now  # each back-off at least as long as the one before
        now = waiting.send_at

    assert send(db, runtime, thank_you, now=now) == DeliveryStatus.FAILED
    failed = reread(db, thank_you)
    assert (failed.status, failed.failures) == (DeliveryStatus.FAILED, limit)
    assert failed.attempts == limit
    assert failed.reason is not None
    assert failed.reason.startswith(f"gave up after {limit} transient errors: cannot write")
    assert send(db, runtime, thank_you, now=now + HOUR) is None  # given up: never tried again


def test_an_unexpected_error_before_sending_gives_the_delivery_back(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    place(db, runtime, 1, at=T0)
    delivery = only(db, "thank-you")

    def broken_render(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full while loading templates")

    working_render = runtime.renderer.render
    monkeypatch.setattr(runtime.renderer, "render", broken_render)
    with pytest.raises(RuntimeError):
        send(db, runtime, delivery, now=DUE)

    released = reread(db, delivery)
    assert released.status == DeliveryStatus.SCHEDULED
    assert released.reason == "released after an error"
    assert outbox(runtime) == []
    monkeypatch.setattr(runtime.renderer, "render", working_render)
    assert send(db, runtime, released, now=DUE) == DeliveryStatus.SENT


def thank_yous(db: Session, runtime: Runtime, customers: int) -> list[int]:
    """First orders at T0 from `customers` people: their thank-yous, due at DUE."""
    for number in range(customers):
        event = order_event(
            event_id=f"ord-{number}",
            order_id=str(number),
            at=T0,
            email=f"c{number}@example.com",
            locale="en",
        )
        handle(db, runtime, event, now=T0)
    db.expire_all()
    thanks = select(Delivery.id).where(col(Delivery.trigger) == "thank-you")
    return list(db.exec(thanks.order_by(col(Delivery.id))).all())  # type: ignore[arg-type]


def statuses(db: Session, ids: list[int]) -> list[tuple[DeliveryStatus, str | None]]:
    db.expire_all()
    return [(row.status, row.reason) for row in (db.get_one(Delivery, i) for i in ids)]


def test_a_batch_sends_each_due_delivery_once_and_records_it(db: Session, runtime: Runtime) -> None:
    ids = thank_yous(db, runtime, 3)
    cancelled = db.get_one(Delivery, ids[1])
    cancelled.status = DeliveryStatus.CANCELLED
    db.add(cancelled)
    db.commit()

    assert deliver_many(db, ids, now=DUE, runtime=runtime).waiting == []
    assert deliver_many(db, ids, now=DUE, runtime=runtime).waiting == []  # a repeated message

    assert [status for status, _ in statuses(db, ids)] == [
        DeliveryStatus.SENT,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.SENT,
    ]
    assert [path.name for path in outbox(runtime)] == [eml_name(db, ids[0]), eml_name(db, ids[2])]
    first = db.get_one(Delivery, ids[0])
    folder = shipped_message("thank-you", first.customer_id)
    assert (first.attempts, first.sent_at, first.variant) == (1, DUE, f"{folder}/default.html.j2")


def test_a_batch_stopped_by_an_unexpected_error_gives_back_what_it_did_not_send(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = thank_yous(db, runtime, 3)
    working_render = runtime.renderer.render
    calls = 0

    def render_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("disk full while loading templates")
        return working_render(*args, **kwargs)

    monkeypatch.setattr(runtime.renderer, "render", render_once)
    with pytest.raises(RuntimeError):
        deliver_many(db, ids, now=DUE, runtime=runtime)

    assert statuses(db, ids) == [
        (DeliveryStatus.SENT, None),
        (DeliveryStatus.SCHEDULED, "released after an error"),
        (DeliveryStatus.SCHEDULED, "released: its batch stopped early"),
    ]
    assert len(outbox(runtime)) == 1
    monkeypatch.setattr(runtime.renderer, "render", working_render)
    assert deliver_many(db, ids, now=DUE, runtime=runtime).waiting == []
    assert len(outbox(runtime)) == 3


def test_a_transient_provider_error_in_a_batch_puts_each_delivery_back_for_a_retry(
    db: Session, runtime: Runtime
) -> None:
    ids = thank_yous(db, runtime, 2)
    Path(runtime.settings.outbox_dir).write_text("a file where the outbox folder should be")

    assert deliver_many(db, ids, now=DUE, runtime=runtime).waiting == ids

    for status, reason in statuses(db, ids):
        assert status == DeliveryStatus.SCHEDULED
        assert reason is not None
        assert reason.startswith("will retry: cannot write")
    for row in (db.get_one(Delivery, i) for i in ids):
        assert (row.failures, row.enqueued_at) == (1, None)
        assert row.send_at > DUE


def test_with_a_provider_that_is_not_idempotent_only_requests_that_left_are_stamped(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = thank_yous(db, runtime, 3)
    monkeypatch.setattr(runtime.provider, "idempotent", False)
    working_render = runtime.renderer.render
    calls = 0

    def render_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("disk full while loading templates")
        return working_render(*args, **kwargs)

    monkeypatch.setattr(runtime.renderer, "render", render_once)
    with pytest.raises(RuntimeError):
        deliver_many(db, ids, now=DUE, runtime=runtime)

    # The one rendered before the error still went out; the others were given back, never
    # stamped as requested, so the clock could only ever send them again, not give them up.
    assert statuses(db, ids) == [
        (DeliveryStatus.SENT, None),
        (DeliveryStatus.SCHEDULED, "released after an error"),
        (DeliveryStatus.SCHEDULED, "released: its batch stopped early"),
    ]
    rows = [db.get_one(Delivery, i) for i in ids]
    assert rows[0].requested_at is not None
    assert len(outbox(runtime)) == 1


def test_a_batch_to_a_provider_that_is_not_idempotent_stops_starting_sends_at_its_deadline(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = thank_yous(db, runtime, 3)
    monkeypatch.setattr(runtime.provider, "idempotent", False)
    working_send = runtime.provider.send

    def send_then_run_out_of_time(email: Any) -> str | None:
        monkeypatch.setattr(batches, "BATCH_DEADLINE_S", -1.0)  # the deadline has now passed
        return working_send(email)

    monkeypatch.setattr(runtime.provider, "send", send_then_run_out_of_time)
    outcome = deliver_many(db, ids, now=DUE, runtime=runtime)

    # The first went out; the others were given back unrequested: a time limit strands none.
    assert (outcome.waiting, outcome.later) == ([], ids[1:])
    released = (DeliveryStatus.SCHEDULED, "released: its batch stopped early")
    assert statuses(db, ids) == [(DeliveryStatus.SENT, None), released, released]
    assert len(outbox(runtime)) == 1
    monkeypatch.setattr(batches, "BATCH_DEADLINE_S", 200.0)
    monkeypatch.setattr(runtime.provider, "send", working_send)
    assert deliver_many(db, outcome.later, now=DUE, runtime=runtime).later == []
    assert len(outbox(runtime)) == 3


def test_a_time_limit_hit_while_preparing_gives_the_delivery_back(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = thank_yous(db, runtime, 2)
    monkeypatch.setattr(runtime.provider, "idempotent", False)

    def time_is_up(*_args: object, **_kwargs: object) -> None:
        raise TimeLimitExceeded()  # what Dramatiq raises in the worker's thread

    monkeypatch.setattr(runtime.renderer, "render", time_is_up)
    with pytest.raises(TimeLimitExceeded):
        deliver_many(db, ids, now=DUE, runtime=runtime)

    # Nothing was sent: the clock will not give it up as "outcome unknown".
    assert statuses(db, ids) == [
        (DeliveryStatus.SCHEDULED, "released after an error"),
        (DeliveryStatus.SCHEDULED, "released: its batch stopped early"),
    ]
    assert outbox(runtime) == []


def two_thank_yous_for_ana(db: Session, runtime: Runtime) -> list[int]:
    """Ana's thank-you and a twin of it (another event's, say), both due at DUE."""
    place(db, runtime, 1, at=T0)
    first = only(db, "thank-you")
    columns = {name: getattr(first, name) for name in Delivery.model_fields if name != "id"}
    twin = Delivery(**{**columns, "dedupe_key": f"{first.dedupe_key}-twin"})
    db.add(twin)
    db.commit()
    return [first.id, twin.id]  # type: ignore[list-item]


@pytest.mark.parametrize("idempotent", [True, False], ids=["files", "not-idempotent"])
def test_of_two_deliveries_in_one_cooldown_a_batch_sends_one(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, idempotent: bool
) -> None:
    ids = two_thank_yous_for_ana(db, runtime)
    monkeypatch.setattr(rules, "cooldown_of", lambda _trigger: DAY)
    monkeypatch.setattr(runtime.provider, "idempotent", idempotent)

    deliver_many(db, ids, now=DUE, runtime=runtime)

    assert [status for status, _ in statuses(db, ids)] == [
        DeliveryStatus.SKIPPED,
        DeliveryStatus.SENT,
    ]
    assert len(outbox(runtime)) == 1


def test_a_batch_whose_loading_fails_after_its_claim_gives_every_delivery_back(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = thank_yous(db, runtime, 2)

    def lost_connection(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("server closed the connection unexpectedly")

    monkeypatch.setattr(OrderLines, "preload", lost_connection)
    with pytest.raises(RuntimeError):
        deliver_many(db, ids, now=DUE, runtime=runtime)

    # Not left `sending` for the clock to find ten minutes later.
    released = (DeliveryStatus.SCHEDULED, "released: its batch stopped early")
    assert statuses(db, ids) == [released, released]
    assert outbox(runtime) == []
