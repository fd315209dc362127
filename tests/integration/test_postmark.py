"""The Postmark provider, through its pooled client, against a local stand-in for the Email API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, select

from models import Delivery, DeliveryStatus
from tests.support.factories import order_event
from tests.support.postmark_standin import (
    SERVER_TOKEN,
    PostmarkStandIn,
    accepted,
    answer,
    body_problems,
    running_postmark,
)
from tests.support.sendgrid_standin import Reply
from tests.support.services import free_port
from worker.delivery import pauses
from worker.delivery.batches import deliver_many
from worker.delivery.inflight import QUEUED_SHARE
from worker.delivery.sending import deliver
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.providers import DeliveryError, OutgoingEmail
from worker.providers.postmark import PostmarkProvider
from worker.providers.registry import build_provider
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import EmailBackend, Settings

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=2)
STREAMS = {"marketing": "broadcast", "transactional": "outbound"}


@pytest.fixture
def postmark(monkeypatch: pytest.MonkeyPatch) -> Iterator[PostmarkStandIn]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never route the stand-in through a proxy
    with running_postmark() as standin:
        yield standin


def provider_for(
    standin: PostmarkStandIn, *, token: str = SERVER_TOKEN, timeout_s: float = 5.0
) -> PostmarkProvider:
    return PostmarkProvider(token, host=standin.url, timeout_s=timeout_s, streams=STREAMS)


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
        "message_class": "marketing",
    }
    return OutgoingEmail(**{**values, **changes})  # type: ignore[arg-type]


MESSAGE_ID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"  # the documented response's


def test_an_email_is_posted_to_the_email_api_with_the_server_token(
    postmark: PostmarkStandIn,
) -> None:
    postmark.always(accepted("ana@example.com", MESSAGE_ID))

    message_id = provider_for(postmark).send(outgoing())

    assert message_id == MESSAGE_ID
    [request] = postmark.requests
    assert (request.method, request.path, request.status) == ("POST", "/email", 200)
    assert request.headers["x-postmark-server-token"] == SERVER_TOKEN
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert postmark.invalid == []


def test_requests_reuse_one_kept_alive_connection(postmark: PostmarkStandIn) -> None:
    provider = provider_for(postmark)
    for n in range(3):
        provider.send(outgoing(delivery_id=n))

    assert [r.status for r in postmark.requests] == [200] * 3
    assert len({r.peer for r in postmark.requests}) == 1


def test_the_body_carries_both_parts_our_headers_our_ids_and_the_broadcast_stream(
    postmark: PostmarkStandIn,
) -> None:
    provider_for(postmark).send(outgoing(reply_to="help@shop.example"))

    assert postmark.requests[0].json() == {
        "From": "Ladder Demo Shop <hello@shop.example>",
        "To": "ana@example.com",
        "Subject": "Gracias por tu primer pedido, Ana & Bo",
        "TextBody": "Hola Ana & Bo\n",
        "HtmlBody": "<p>Hola Ana &amp; Bo</p>",
        "MessageStream": "broadcast",
        "Metadata": {"delivery_id": "42", "trigger": "thank-you", "segment": "new"},
        "Tag": "thank-you",
        "ReplyTo": "help@shop.example",
        "Headers": [
            {"Name": "List-Unsubscribe", "Value": "<https://shop.example/u/1.m.abc>"},
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
    }


def test_transactional_mail_goes_out_on_the_transactional_stream(
    postmark: PostmarkStandIn,
) -> None:
    provider_for(postmark).send(outgoing(message_class="transactional", headers={}))

    body = postmark.requests[0].json()
    assert body["MessageStream"] == "outbound"
    assert "Headers" not in body


def test_a_sender_name_with_punctuation_is_quoted(postmark: PostmarkStandIn) -> None:
    provider_for(postmark).send(outgoing(sender_name="Joe Sender, jr"))

    assert postmark.requests[0].json()["From"] == '"Joe Sender, jr" <hello@shop.example>'
    assert postmark.invalid == []


def test_metadata_is_kept_within_postmarks_limits(postmark: PostmarkStandIn) -> None:
    long_trigger = "a-trigger-" + "x" * 100
    provider_for(postmark).send(
        outgoing(custom_args={"delivery_id": "42", "trigger": long_trigger, "segment": "new"})
    )

    assert postmark.invalid == []
    assert postmark.requests[0].json()["Metadata"]["trigger"] == long_trigger[:80]


def test_the_stand_in_refuses_what_postmark_would() -> None:
    assert body_problems({"From": "a@b.c", "To": "d@e.f", "Subject": "s"}) == [
        "MessageStream: required",
        "body: provide either TextBody or HtmlBody or both",
    ]
    assert body_problems(
        {
            "From": "a@b.c",
            "To": "d@e.f",
            "Subject": "s",
            "TextBody": "t",
            "MessageStream": "outbound",
            "Headers": {"X-A": "1"},
            "Metadata": {"delivery_id": 42},
            "CustomArgs": {},
        }
    ) == [
        "CustomArgs: not a field of the Email API",
        "Headers: must be list",
        "Metadata.delivery_id: values are text of at most 80 characters",
    ]


def test_a_wrong_server_token_pauses_sending_instead_of_failing(
    postmark: PostmarkStandIn,
) -> None:
    with pytest.raises(DeliveryError, match="Postmark 401 \\(ErrorCode 10\\)") as caught:
        provider_for(postmark, token="revoked").send(outgoing())
    assert (caught.value.permanent, caught.value.pauses_sending) == (False, True)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (400, "Sender signature not found"),
        (401, "Sender signature not confirmed"),
        (405, "Not allowed to send"),
        (412, "Account is pending"),
        (413, "Account may not send"),
    ],
)
def test_a_refused_sender_or_account_pauses_sending(
    postmark: PostmarkStandIn, code: int, message: str
) -> None:
    postmark.always(answer(code, message))

    with pytest.raises(DeliveryError, match=f"ErrorCode {code}\\): {message}") as caught:
        provider_for(postmark).send(outgoing())
    assert (caught.value.permanent, caught.value.pauses_sending) == (False, True)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (300, "Invalid email request"),
        (406, "You tried to send to a recipient that has been marked as inactive."),
        (411, "Forbidden attachment type"),
    ],
)
def test_an_invalid_request_or_inactive_recipient_is_permanent(
    postmark: PostmarkStandIn, code: int, message: str
) -> None:
    postmark.always(answer(code, message))

    with pytest.raises(DeliveryError, match=f"Postmark 422 \\(ErrorCode {code}\\)") as caught:
        provider_for(postmark).send(outgoing())
    assert caught.value.permanent
    assert not caught.value.pauses_sending and not caught.value.bounce


def test_the_stand_ins_refusal_of_a_bad_body_is_permanent(postmark: PostmarkStandIn) -> None:
    with pytest.raises(DeliveryError, match="ErrorCode 300") as caught:
        provider_for(postmark).send(outgoing(html="", text=""))
    assert caught.value.permanent
    assert len(postmark.invalid) == 1


def test_maintenance_and_server_errors_are_transient(postmark: PostmarkStandIn) -> None:
    for reply in (answer(100, "Maintenance"), answer(0, "boom", status=500), Reply(503)):
        postmark.always(reply)
        with pytest.raises(DeliveryError, match="Postmark") as caught:
            provider_for(postmark).send(outgoing())
        assert not caught.value.permanent
        assert not caught.value.pauses_sending and caught.value.retry_after_s is None


def test_a_429_retries_after_what_retry_after_says_or_ten_seconds(
    postmark: PostmarkStandIn,
) -> None:
    limited = answer(429, "Rate limit exceeded", status=429)
    postmark.always(Reply(429, {"Retry-After": "30"}, limited.body))
    with pytest.raises(DeliveryError, match="Rate limit exceeded") as caught:
        provider_for(postmark).send(outgoing())
    assert (caught.value.permanent, caught.value.retry_after_s) == (False, 30.0)

    postmark.always(limited)
    with pytest.raises(DeliveryError) as caught:
        provider_for(postmark).send(outgoing())
    assert caught.value.retry_after_s == 10.0


def test_an_unreachable_postmark_is_transient() -> None:
    provider = PostmarkProvider(
        SERVER_TOKEN, host=f"http://127.0.0.1:{free_port()}", timeout_s=5, streams=STREAMS
    )

    with pytest.raises(DeliveryError, match="Postmark unreachable") as caught:
        provider.send(outgoing())
    assert not caught.value.permanent


def test_a_postmark_that_does_not_answer_in_time_is_transient(postmark: PostmarkStandIn) -> None:
    postmark.always(Reply(hold=True))

    with pytest.raises(DeliveryError, match="Postmark unreachable") as caught:
        provider_for(postmark, timeout_s=0.3).send(outgoing())
    assert not caught.value.permanent


def test_the_registry_builds_it_from_settings_with_the_streams_named() -> None:
    settings = Settings(
        email_backend=EmailBackend.POSTMARK,
        postmark_server_token=SecretStr(SERVER_TOKEN),
        postmark_stream_marketing="newsletters",
        postmark_stream_transactional="receipts",
    )

    provider = build_provider(settings)

    assert isinstance(provider, PostmarkProvider)
    assert (provider.idempotent, provider.concurrent) == (False, True)
    assert provider.streams == {"marketing": "newsletters", "transactional": "receipts"}
    assert provider.url == "https://api.postmarkapp.com/email"


# --- through `deliver`, as the worker sends ---------------------------------------------------


def postmark_runtime(runtime: Runtime, standin: PostmarkStandIn, **settings: object) -> Runtime:
    changed = runtime.settings.model_copy(
        update={
            "email_backend": EmailBackend.POSTMARK,
            "postmark_server_token": SecretStr(SERVER_TOKEN),
            "postmark_api_host": standin.url,
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


def test_a_delivery_sent_through_postmark_records_its_message_id(
    db: Session, runtime: Runtime, postmark: PostmarkStandIn
) -> None:
    live = postmark_runtime(runtime, postmark, postmark_stream_marketing="promotions")
    delivery_id = due_thank_you(db, live)
    postmark.always(accepted("ana@example.com", MESSAGE_ID))

    assert deliver(db, delivery_id, now=DUE, runtime=live) == DeliveryStatus.SENT

    assert stored(db, delivery_id).provider_message_id == MESSAGE_ID
    assert postmark.invalid == []
    body = postmark.requests[0].json()
    assert body["Metadata"]["delivery_id"] == str(delivery_id)
    assert body["MessageStream"] == "promotions"  # thank-you is marketing
    headers = {h["Name"]: h["Value"] for h in body["Headers"]}
    assert headers["List-Unsubscribe"].startswith("<https://shop.example/u/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_transactional_mail_goes_on_the_transactional_stream_without_list_unsubscribe(
    db: Session, runtime: Runtime, postmark: PostmarkStandIn, tmp_path: Path
) -> None:
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    source = runtime.settings.triggers_dir / "thank_you.toml"
    text = source.read_text(encoding="utf-8").split("\n[[variants]]")[0]
    text += '\nclass = "transactional"\n'
    (triggers / "thank_you.toml").write_text(text, encoding="utf-8")
    live = postmark_runtime(runtime, postmark, triggers_dir=triggers)
    event = order_event(event_id="ord-t", order_id="t", at=T0, consent=False)
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(live.triggers, live.settings))
    delivery = db.exec(select(Delivery)).one()

    assert deliver(db, delivery.id, now=DUE, runtime=live) == DeliveryStatus.SENT  # type: ignore[arg-type]

    body = postmark.requests[0].json()
    assert body["MessageStream"] == "outbound"
    assert "Headers" not in body


def test_an_inactive_recipient_fails_the_delivery_with_postmarks_words(
    db: Session, runtime: Runtime, postmark: PostmarkStandIn
) -> None:
    live = postmark_runtime(runtime, postmark)
    delivery_id = due_thank_you(db, live)
    postmark.always(
        answer(406, "You tried to send to recipient(s) that have been marked as inactive.")
    )

    assert deliver(db, delivery_id, now=DUE, runtime=live) == DeliveryStatus.FAILED

    assert "ErrorCode 406" in (stored(db, delivery_id).reason or "")


def test_a_refused_token_stops_the_batch_and_pauses_postmark(
    db: Session, runtime: Runtime, postmark: PostmarkStandIn
) -> None:
    live = postmark_runtime(
        runtime, postmark, postmark_server_token=SecretStr("revoked"), delivery_in_flight=2
    )
    slots = 2 + int(2 * QUEUED_SHARE)  # on their way, or stamped and queued for a thread
    ids = [due_thank_you(db, live, email=f"c{n}@example.com") for n in range(slots + 2)]

    waiting = deliver_many(db, ids, now=DUE, runtime=live).waiting

    tried = [int(r.json()["Metadata"]["delivery_id"]) for r in postmark.requests]
    assert tried and set(tried) <= set(ids[:slots])
    assert sorted(waiting) == sorted(tried)
    assert [stored(db, i).status for i in ids] == [DeliveryStatus.SCHEDULED] * len(ids)
    pause = pauses.pause_of(db, "postmark")
    assert pause is not None and "ErrorCode 10" in pause.reason


def test_a_batch_keeps_requests_in_flight_together_and_sends_each_once(
    db: Session, runtime: Runtime, postmark: PostmarkStandIn
) -> None:
    live = postmark_runtime(runtime, postmark, delivery_in_flight=4)
    ids = [due_thank_you(db, live, email=f"b{n}@example.com") for n in range(6)]

    deliver_many(db, ids, now=DUE, runtime=live)

    assert sorted(postmark.accepted_delivery_ids()) == sorted(str(i) for i in ids)
    assert [stored(db, i).status for i in ids] == [DeliveryStatus.SENT] * 6
    assert postmark.invalid == []
