"""The SendGrid provider, through its pooled client, against a local stand-in for the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from models import Delivery, DeliveryStatus, SendingPause
from models.db import session
from models.tables import SENDING_PAUSES
from tests.support.factories import order_event, shipped_message
from tests.support.sendgrid_standin import (
    API_KEY,
    Reply,
    SendGridStandIn,
    body_problems,
    error_body,
    rate_limited,
    running_standin,
)
from tests.support.services import free_port
from tests.support.tls import speak_tls
from worker.authoring.status import status_report
from worker.cli import app
from worker.delivery import pauses
from worker.delivery.batches import deliver_many
from worker.delivery.inflight import QUEUED_SHARE
from worker.delivery.sending import deliver
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.providers import DeliveryError, OutgoingEmail
from worker.providers.sendgrid import SendGridProvider
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import EmailBackend

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=2)
# With DELIVERY_IN_FLIGHT=2: the requests a batch may have on their way or queued for a thread.
SLOTS = 2 + int(2 * QUEUED_SHARE)
# A message from SendGrid's own Mail Send error catalogue.
FROM_ERROR = (
    "The from object must at least have an email parameter with a valid email address and may "
    'also contain a name parameter. e.g. {"email": "example@example.com"} or '
    '{"email": "example@example.com", "name": "Example Recipient"}'
)


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[SendGridStandIn]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never route the stand-in through a proxy
    with running_standin() as standin:
        yield standin


def provider_for(standin: SendGridStandIn, timeout_s: float = 5.0) -> SendGridProvider:
    return SendGridProvider(API_KEY, host=standin.url, timeout_s=timeout_s)


def outgoing(**changes: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "delivery_id": 42,
        "to": "ana@example.com",
        "sender": "hello@shop.example",
        "sender_name": "Ladder Demo Shop",
        "subject": "Gracias por tu primer pedido, Ana & Bo",
        "html": "<p>Hola Ana &amp; Bo</p>",
        "text": "Hola Ana & Bo\n",
        "created_at": T0,
        "key": "000000042-0123456789",
        "headers": {
            "List-Unsubscribe": "<https://shop.example/u/1.m.abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "categories": ("thank-you", "thank_you"),
        "custom_args": {"delivery_id": "42", "trigger": "thank-you", "segment": "new"},
    }
    return OutgoingEmail(**{**values, **changes})  # type: ignore[arg-type]


# --- the request ----------------------------------------------------------------------------


def test_an_email_is_posted_to_mail_send_with_the_api_key(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(Reply(202, {"X-Message-Id": "sg-Q7x2Jt9a"}))

    message_id = provider_for(sendgrid).send(outgoing())

    assert message_id == "sg-Q7x2Jt9a"
    [request] = sendgrid.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"


def test_requests_reuse_one_kept_alive_connection(sendgrid: SendGridStandIn) -> None:
    """A new TCP and TLS handshake per email costs a round trip or two each at a provider
    tens of milliseconds away: the provider keeps its connection open between requests."""
    provider = provider_for(sendgrid)
    for n in range(3):
        provider.send(outgoing(delivery_id=n))

    assert [r.status for r in sendgrid.requests] == [202] * 3
    assert len({r.peer for r in sendgrid.requests}) == 1


def test_the_body_names_recipient_sender_subject_and_puts_plain_text_first(
    sendgrid: SendGridStandIn,
) -> None:
    provider_for(sendgrid).send(outgoing())

    body = sendgrid.requests[0].json()
    assert body["personalizations"] == [{"to": [{"email": "ana@example.com"}]}]
    assert body["from"] == {"email": "hello@shop.example", "name": "Ladder Demo Shop"}
    assert body["subject"] == "Gracias por tu primer pedido, Ana & Bo"
    assert body["content"] == [
        {"type": "text/plain", "value": "Hola Ana & Bo\n"},
        {"type": "text/html", "value": "<p>Hola Ana &amp; Bo</p>"},
    ]
    assert body["custom_args"] == {"delivery_id": "42", "trigger": "thank-you", "segment": "new"}
    assert body["headers"] == {
        "List-Unsubscribe": "<https://shop.example/u/1.m.abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["categories"] == ["thank-you", "thank_you"]
    assert "reply_to" not in body and "asm" not in body and "mail_settings" not in body


def test_reply_to_unsubscribe_group_and_sandbox_mode_go_in_the_body(
    sendgrid: SendGridStandIn,
) -> None:
    provider = SendGridProvider(API_KEY, host=sendgrid.url, timeout_s=5, sandbox_mode=True)

    provider.send(outgoing(reply_to="help@shop.example", unsubscribe_group=7))

    body = sendgrid.requests[0].json()
    assert body["reply_to"] == {"email": "help@shop.example"}
    assert body["asm"] == {"group_id": 7}
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert sendgrid.invalid == []


def test_a_trigger_named_like_its_message_sends_the_category_once(
    sendgrid: SendGridStandIn,
) -> None:
    provider_for(sendgrid).send(outgoing(categories=("upsell", "upsell")))

    assert sendgrid.requests[0].json()["categories"] == ["upsell"]
    assert sendgrid.invalid == []


def test_every_body_sent_is_valid_against_sendgrids_published_schema(
    sendgrid: SendGridStandIn,
) -> None:
    provider_for(sendgrid).send(outgoing())

    assert sendgrid.invalid == []
    assert body_problems(sendgrid.requests[0].json()) == []


def test_the_stand_in_refuses_a_body_sendgrid_would_refuse() -> None:
    bad = {
        "personalizations": [{"cc": [{"email": "bo@example.com"}]}],
        "subject": "",
        "content": [{"type": "text/plain"}],
        "custom_args": {"delivery_id": 42},
        "categories": ["a", "a"],
    }
    assert body_problems(bad) == [
        "body: 'from' is a required property",
        "categories: ['a', 'a'] has non-unique elements",
        "content.0: 'value' is a required property",
        "custom_args.delivery_id: 42 is not of type 'string'",
        "personalizations.0: 'to' is a required property",
        "subject: '' should be non-empty",
    ]


# --- the answers ----------------------------------------------------------------------------


def test_a_400_is_a_permanent_error_with_sendgrids_message(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(Reply(400, {}, error_body(FROM_ERROR)))

    with pytest.raises(DeliveryError) as caught:
        provider_for(sendgrid).send(outgoing())

    assert caught.value.permanent
    assert str(caught.value) == f"SendGrid 400: {FROM_ERROR}"
    assert caught.value.retry_after_s is None


def test_a_400_with_several_errors_lists_them_all(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(
        Reply(
            400,
            {},
            error_body(
                "The subject is required.",
                "The content value must be a string at least one character in length.",
            ),
        )
    )

    with pytest.raises(DeliveryError, match=r"subject is required\.; The content value"):
        provider_for(sendgrid).send(outgoing())


def test_a_413_is_permanent(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(Reply(413, {}, error_body("The JSON payload you have included is too large.")))

    with pytest.raises(DeliveryError, match="SendGrid 413: The JSON payload") as caught:
        provider_for(sendgrid).send(outgoing())
    assert caught.value.permanent


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_api_key_pauses_sending_instead_of_failing(
    sendgrid: SendGridStandIn, status: int
) -> None:
    sendgrid.always(Reply(status, {}, error_body("The provided authorization grant is invalid")))

    with pytest.raises(DeliveryError, match=f"SendGrid {status}: The provided auth") as caught:
        provider_for(sendgrid).send(outgoing())
    assert (caught.value.permanent, caught.value.pauses_sending) == (False, True)


def test_a_500_is_transient(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(Reply(500, {}, error_body("internal error")))

    with pytest.raises(DeliveryError, match="SendGrid 500: internal error") as caught:
        provider_for(sendgrid).send(outgoing())
    assert not caught.value.permanent
    assert caught.value.retry_after_s is None


def test_a_500_without_a_json_body_is_transient_with_the_reason(
    sendgrid: SendGridStandIn,
) -> None:
    sendgrid.always(Reply(500))

    with pytest.raises(DeliveryError, match="SendGrid 500: Internal Server Error") as caught:
        provider_for(sendgrid).send(outgoing())
    assert not caught.value.permanent


def test_a_429_is_transient_and_says_when_the_limit_resets(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(rate_limited(reset_in_s=30))

    with pytest.raises(DeliveryError, match="SendGrid rate limit: too many requests") as caught:
        provider_for(sendgrid).send(outgoing())
    assert not caught.value.permanent
    assert caught.value.retry_after_s is not None
    assert 25 <= caught.value.retry_after_s <= 30


def test_a_429_whose_reset_has_passed_retries_after_a_second(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(rate_limited(reset_in_s=-5))

    with pytest.raises(DeliveryError) as caught:
        provider_for(sendgrid).send(outgoing())
    assert caught.value.retry_after_s == 1.0


def test_an_unreachable_sendgrid_is_transient() -> None:
    provider = SendGridProvider(API_KEY, host=f"http://127.0.0.1:{free_port()}", timeout_s=5)

    with pytest.raises(DeliveryError, match="SendGrid unreachable") as caught:
        provider.send(outgoing())
    assert not caught.value.permanent


def test_a_sendgrid_that_does_not_answer_in_time_is_transient(sendgrid: SendGridStandIn) -> None:
    sendgrid.always(Reply(hold=True))

    with pytest.raises(DeliveryError, match="SendGrid unreachable") as caught:
        provider_for(sendgrid, timeout_s=0.3).send(outgoing())
    assert not caught.value.permanent


# --- through `deliver`, as the worker sends ---------------------------------------------------


def sendgrid_runtime(runtime: Runtime, standin: SendGridStandIn, **settings: object) -> Runtime:
    changed = runtime.settings.model_copy(
        update={
            "email_backend": EmailBackend.SENDGRID,
            "sendgrid_api_key": SecretStr(API_KEY),
            "sendgrid_api_host": standin.url,
            "public_url": "https://shop.example",
            **settings,
        }
    )
    return Runtime(changed)


def due_thank_you(db: Session, runtime: Runtime, *, email: str = "ana@example.com") -> int:
    event = order_event(
        event_id=f"ord-{email}", order_id=email, at=T0, locale="es", first_name="Ana", email=email
    )
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    # Its own thank-you: without an order PostgreSQL returns rows in any order (an updated row
    # moves), and "the last one" was at times another customer's.
    delivery = db.exec(
        select(Delivery).where(
            col(Delivery.trigger) == "thank-you", col(Delivery.cause_event_id) == event_id
        )
    ).one()
    assert delivery.id is not None
    return delivery.id


def stored(db: Session, delivery_id: int) -> Delivery:
    db.expire_all()
    return db.get_one(Delivery, delivery_id)


def test_a_delivery_sent_through_sendgrid_records_its_message_id(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(runtime, sendgrid)
    delivery_id = due_thank_you(db, live)
    sendgrid.always(Reply(202, {"X-Message-Id": "sg-Q7x2Jt9a"}))

    status = deliver(db, delivery_id, now=DUE, runtime=live)

    assert status == DeliveryStatus.SENT
    sent = stored(db, delivery_id)
    folder = shipped_message("thank-you", sent.customer_id)  # its A/B test's variant
    assert (sent.provider_message_id, sent.variant) == (
        "sg-Q7x2Jt9a",
        f"{folder}/default.es.html.j2",
    )
    assert sendgrid.invalid == []
    body = sendgrid.requests[0].json()
    assert (
        body["subject"]
        == {
            "thank_you": "Gracias por tu primer pedido, Ana",
            "thank_you_b": "Lo que sigue con tu primer pedido, Ana",
        }[folder]
    )
    assert body["custom_args"]["delivery_id"] == str(delivery_id)
    assert body["categories"] == ["thank-you", folder]
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"]["List-Unsubscribe"].startswith("<https://shop.example/u/")
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_marketing_mail_names_its_unsubscribe_group_and_reply_to(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(
        runtime, sendgrid, sendgrid_group_marketing=11, sendgrid_reply_to="help@shop.example"
    )
    delivery_id = due_thank_you(db, live)

    deliver(db, delivery_id, now=DUE, runtime=live)

    body = sendgrid.requests[0].json()
    assert (body["asm"], body["reply_to"]) == ({"group_id": 11}, {"email": "help@shop.example"})
    assert sendgrid.invalid == []


def test_transactional_mail_needs_no_consent_and_carries_no_list_unsubscribe(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn, tmp_path: Path
) -> None:
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    source = runtime.settings.triggers_dir / "thank_you.toml"
    # A transactional trigger tests no variants: the file without its A/B test.
    text = source.read_text(encoding="utf-8").split("\n[[variants]]")[0]
    text += '\nclass = "transactional"\n'
    (triggers / "thank_you.toml").write_text(text, encoding="utf-8")
    live = sendgrid_runtime(
        runtime, sendgrid, triggers_dir=triggers, sendgrid_group_transactional=12
    )
    event = order_event(event_id="ord-t", order_id="t", at=T0, consent=False)
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(live.triggers, live.settings))
    delivery = db.exec(select(Delivery)).one()

    assert deliver(db, delivery.id, now=DUE, runtime=live) == DeliveryStatus.SENT  # type: ignore[arg-type]

    body = sendgrid.requests[0].json()
    assert "headers" not in body
    assert body["asm"] == {"group_id": 12}


def test_a_delivery_sendgrid_refuses_is_failed_with_sendgrids_message(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(runtime, sendgrid)
    delivery_id = due_thank_you(db, live)
    sendgrid.always(Reply(400, {}, error_body(FROM_ERROR)))

    status = deliver(db, delivery_id, now=DUE, runtime=live)

    assert status == DeliveryStatus.FAILED
    failed = stored(db, delivery_id)
    assert (failed.status, failed.reason) == (DeliveryStatus.FAILED, f"SendGrid 400: {FROM_ERROR}")
    assert failed.provider_message_id is None


@pytest.mark.parametrize("answer", ["500", "429", "hang"])
def test_a_transient_answer_gives_the_delivery_back_for_a_retry(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn, answer: str
) -> None:
    """On the row, due again later: after the back-off (a failure counted), or when the rate
    limit resets (none counted)."""
    live = sendgrid_runtime(runtime, sendgrid, sendgrid_timeout_s=0.3)
    delivery_id = due_thank_you(db, live)
    replies = {"500": Reply(500), "429": rate_limited(reset_in_s=20), "hang": Reply(hold=True)}
    sendgrid.always(replies[answer])

    assert deliver(db, delivery_id, now=DUE, runtime=live) == DeliveryStatus.SCHEDULED

    waiting = stored(db, delivery_id)
    assert (waiting.status, waiting.enqueued_at) == (DeliveryStatus.SCHEDULED, None)
    assert waiting.reason is not None
    if answer == "429":
        assert waiting.reason.startswith("rate-limited: SendGrid rate limit")
        assert waiting.failures == 0
        assert DUE + timedelta(seconds=15) < waiting.send_at <= DUE + timedelta(seconds=20)
    else:
        assert waiting.reason.startswith("will retry: SendGrid")
        assert waiting.failures == 1
        assert DUE + timedelta(seconds=5) <= waiting.send_at <= DUE + timedelta(seconds=6)
    sendgrid.always(Reply(202, {"X-Message-Id": "sg-later"}))
    assert deliver(db, delivery_id, now=DUE, runtime=live) is None  # not due again yet
    assert deliver(db, delivery_id, now=waiting.send_at, runtime=live) == DeliveryStatus.SENT
    assert stored(db, delivery_id).provider_message_id == "sg-later"


def test_a_refused_key_pauses_every_delivery_until_resumed(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(runtime, sendgrid)
    first, second = due_thank_you(db, live), due_thank_you(db, live, email="bo@example.com")
    sendgrid.always(Reply(401, {}, error_body("The provided authorization grant is invalid")))

    assert deliver(db, first, now=DUE, runtime=live) == DeliveryStatus.SCHEDULED
    assert deliver(db, second, now=DUE, runtime=live) is None  # paused: not even tried

    assert len(sendgrid.requests) == 1
    assert [stored(db, i).status for i in (first, second)] == [DeliveryStatus.SCHEDULED] * 2
    report = status_report(db, now=DUE, settings=live.settings)
    assert report["sending_paused"] == [
        {
            "provider": "sendgrid",
            "reason": "SendGrid 401: The provided authorization grant is invalid",
            "since": DUE.isoformat(),
            "probe_at": (DUE + timedelta(seconds=300)).isoformat(),
        }
    ]
    sendgrid.always(Reply(202, {"X-Message-Id": "sg-ok"}))
    assert pauses.resume(db, "sendgrid", now=DUE) == 1
    # Their broker messages were consumed during the pause: the clock's next tick sends them.
    assert [stored(db, i).enqueued_at for i in (first, second)] == [None, None]
    assert deliver(db, second, now=DUE, runtime=live) == DeliveryStatus.SENT
    assert status_report(db, now=DUE, settings=live.settings)["sending_paused"] == []


def test_a_refused_key_stops_the_rest_of_its_batch(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(runtime, sendgrid, delivery_in_flight=2)
    ids = [due_thank_you(db, live, email=f"c{n}@example.com") for n in range(SLOTS + 2)]
    sendgrid.always(Reply(401, {}, error_body("The provided authorization grant is invalid")))

    waiting = deliver_many(db, ids, now=DUE, runtime=live).waiting

    # At most those on their way together were refused; none started after a refusal came back.
    tried = [int(r.json()["custom_args"]["delivery_id"]) for r in sendgrid.requests]
    assert tried and set(tried) <= set(ids[:SLOTS])
    assert sorted(waiting) == sorted(tried)
    assert [stored(db, i).status for i in ids] == [DeliveryStatus.SCHEDULED] * len(ids)
    assert pauses.pause_of(db, live.settings.email_backend.value) is not None


class PausedByAnotherWorker:
    """Takes each email; while it takes the first, another worker's provider refuses the key."""

    def __init__(self, database_url: str, backend: str) -> None:
        self.database_url, self.backend = database_url, backend
        self.sent: list[int] = []
        self.idempotent = True

    def send(self, email: OutgoingEmail) -> str:
        if not self.sent:
            with session(self.database_url) as other:
                pauses.pause(other, self.backend, "SendGrid 401", now=DUE, probe_after_s=300)
        self.sent.append(email.delivery_id)
        return f"msg-{email.delivery_id}"


def test_a_batch_sees_a_pause_another_worker_records_once_its_last_read_is_stale(
    db: Session, runtime: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = due_thank_you(db, runtime), due_thank_you(db, runtime, email="bo@example.com")
    provider = PausedByAnotherWorker(database_url, runtime.settings.email_backend.value)
    runtime.provider = provider
    monkeypatch.setattr(pauses, "FRESH_S", 0.0)  # every read is stale at once

    deliver_many(db, [first, second], now=DUE, runtime=runtime)

    assert provider.sent == [first]
    assert [stored(db, i).status for i in (first, second)] == [
        DeliveryStatus.SENT,
        DeliveryStatus.SCHEDULED,  # paused: waits for the probe
    ]


def test_a_single_delivery_reads_the_pause_once_a_second_and_its_own_process_s_at_once(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = (
        due_thank_you(db, runtime, email=f"{name}@example.com") for name in ("ana", "bo", "cy")
    )
    backend = runtime.settings.email_backend.value
    assert pauses.fresh_pause_of(db, backend) is None  # read: kept for a second
    # Another process pauses sending: its row, written past this process's pauses module.
    db.execute(
        SENDING_PAUSES.insert().values(
            provider=backend,
            reason="SendGrid 401",
            paused_at=DUE,
            probe_at=DUE + timedelta(hours=1),
        )
    )
    db.commit()

    assert deliver(db, first, now=DUE, runtime=runtime) == DeliveryStatus.SENT  # within the second
    monkeypatch.setattr(pauses, "FRESH_S", 0.0)  # the second has passed
    assert deliver(db, second, now=DUE, runtime=runtime) is None  # paused: stays scheduled
    monkeypatch.setattr(pauses, "FRESH_S", 3600.0)
    pauses.resume(db, backend)  # this process lifts it: seen at once, however fresh the read
    assert deliver(db, third, now=DUE, runtime=runtime) == DeliveryStatus.SENT
    assert stored(db, second).status == DeliveryStatus.SCHEDULED


def test_after_the_probe_interval_the_next_delivery_tries_the_key_again(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(runtime, sendgrid, sending_pause_probe_s=60)
    delivery_id = due_thank_you(db, live)
    sendgrid.always(Reply(403, {}, error_body("access forbidden")))
    deliver(db, delivery_id, now=DUE, runtime=live)

    assert deliver(db, delivery_id, now=DUE + timedelta(seconds=59), runtime=live) is None
    later = DUE + timedelta(seconds=61)
    assert deliver(db, delivery_id, now=later, runtime=live) == DeliveryStatus.SCHEDULED

    assert len(sendgrid.requests) == 2  # the probe, refused again: paused for another minute
    db.expire_all()
    pause = db.get_one(SendingPause, "sendgrid")
    assert pause.probe_at == later + timedelta(seconds=60)
    sendgrid.always(Reply(202, {"X-Message-Id": "sg-ok"}))
    assert deliver(db, delivery_id, now=later + timedelta(seconds=61), runtime=live) == (
        DeliveryStatus.SENT
    )
    assert pauses.all_pauses(db) == []  # the probe got through: the pause is lifted


class CountingLimiter:
    def __init__(self, standin: SendGridStandIn) -> None:
        self.standin = standin
        self.requests_seen: list[int] = []

    def acquire(self) -> None:
        self.requests_seen.append(len(self.standin.requests))


def test_the_rate_limiter_is_asked_before_each_request(sendgrid: SendGridStandIn) -> None:
    limiter = CountingLimiter(sendgrid)
    provider = SendGridProvider(API_KEY, host=sendgrid.url, timeout_s=5, rate_limiter=limiter)

    provider.send(outgoing())
    provider.send(outgoing())

    assert limiter.requests_seen == [0, 1]


@pytest.mark.commits  # the CLI opens its own sessions
def test_ladder_status_shows_the_pause_and_ladder_sending_resume_lifts_it(
    db: Session,
    runtime: Runtime,  # noqa: ARG001  (points `ladder` at this test's database)
) -> None:
    pauses.pause(db, "sendgrid", "SendGrid 401: bad key", now=DUE, probe_after_s=300)
    runner = CliRunner()

    shown = runner.invoke(app, ["status"])
    resumed = runner.invoke(app, ["sending", "resume"])
    again = runner.invoke(app, ["sending", "resume"])

    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.output.split())  # as read, whatever the terminal's width
    assert "Sending through sendgrid is paused since 2026-05-01T12:00:00+00:00" in said
    assert "SendGrid 401: bad key. The next delivery after 2026-05-01T12:05:00+00:00" in said
    assert (resumed.exit_code, resumed.output.strip()) == (0, "sending resumed")
    assert again.output.strip() == "sending was not paused"
    assert pauses.all_pauses(db) == []


def test_a_429_stops_its_batch_and_hands_back_the_rest_for_when_the_limit_resets(
    db: Session, runtime: Runtime, sendgrid: SendGridStandIn
) -> None:
    live = sendgrid_runtime(runtime, sendgrid, delivery_in_flight=2)
    ids = [due_thank_you(db, live, email=f"c{n}@example.com") for n in range(SLOTS + 2)]
    sendgrid.always(rate_limited(reset_in_s=20))

    outcome = deliver_many(db, ids, now=DUE, runtime=live)

    # At most those on their way together; none more was sent into the limit.
    tried = [int(r.json()["custom_args"]["delivery_id"]) for r in sendgrid.requests]
    assert tried and set(tried) <= set(ids[:SLOTS])
    assert (sorted(outcome.waiting), outcome.later) == (ids, [])
    rows = [stored(db, i) for i in ids]
    assert [row.status for row in rows] == [DeliveryStatus.SCHEDULED] * len(ids)
    # All due when the limit resets (each refusal says when; the batch takes the latest for
    # those it did not send), left to the relay, no failure counted.
    assert all(
        DUE + timedelta(seconds=15) < row.send_at <= DUE + timedelta(seconds=20) for row in rows
    )
    latest = max(row.send_at for row in rows)
    assert [row.send_at for row in rows[SLOTS:]] == [latest] * 2
    assert all(row.requested_at is None for row in rows[SLOTS:])  # never on their way
    assert [(row.enqueued_at, row.failures) for row in rows] == [(None, 0)] * len(ids)


def test_over_tls_the_provider_trusts_the_systems_certificates_and_refuses_others(
    sendgrid: SendGridStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SendGrid is reached over HTTPS: a certificate the machine trusts (here a throwaway one,
    named by SSL_CERT_FILE as an operator's own CA would be) is accepted, and the kept-alive
    connection reused; one it does not trust is refused, and nothing is sent."""
    certificate = speak_tls(sendgrid, tmp_path)
    host = sendgrid.url.replace("http://", "https://")

    with pytest.raises(DeliveryError, match=r"SendGrid unreachable.*CERTIFICATE_VERIFY_FAILED"):
        SendGridProvider(API_KEY, host=host, timeout_s=5).send(outgoing())
    assert sendgrid.requests == []

    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    provider = SendGridProvider(API_KEY, host=host, timeout_s=5)
    ids = [provider.send(outgoing(delivery_id=n)) for n in range(2)]

    assert all(message_id.startswith("sg-") for message_id in ids)
    assert len({request.peer for request in sendgrid.requests}) == 1
