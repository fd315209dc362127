"""The SendGrid provider, through the official client, against a local stand-in for the API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, select

from models import Delivery, DeliveryStatus
from tests.support.factories import order_event
from tests.support.services import free_port
from worker.events import process
from worker.ingest import store_events
from worker.providers import DeliveryError, OutgoingEmail
from worker.providers.sendgrid import SendGridProvider
from worker.runtime import Runtime
from worker.sending import deliver
from worker.settings import EmailBackend

API_KEY = "SG.test-key.not-real"
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "sendgrid" / "tsg_mail_v3.json"
# A message from SendGrid's own Mail Send error catalogue.
FROM_ERROR = (
    "The from object must at least have an email parameter with a valid email address and may "
    'also contain a name parameter. e.g. {"email": "example@example.com"} or '
    '{"email": "example@example.com", "name": "Example Recipient"}'
)


@dataclass
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=lambda: {"X-Message-Id": "sg-Q7x2Jt9a"})
    body: bytes = b""
    hold: bool = False  # answer only once the test releases it (to make the client time out)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeSendGrid:
    """An HTTP server on 127.0.0.1 that records each request and answers with `reply`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.reply = Reply()
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                fake.requests.append(Received("POST", self.path, headers, body))
                reply = fake.reply
                if reply.hold:
                    fake.release.wait(timeout=30)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is what the timeout test wants

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, status: int, body: Any = None, **headers: str) -> None:
        encoded = b"" if body is None else json.dumps(body).encode()
        self.reply = Reply(status=status, headers=headers, body=encoded)


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never route the stand-in through a proxy
    fake = FakeSendGrid()
    fake.thread.start()
    yield fake
    fake.release.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=10)


def provider_for(fake: FakeSendGrid, timeout_s: float = 5.0) -> SendGridProvider:
    return SendGridProvider(API_KEY, host=fake.url, timeout_s=timeout_s)


def outgoing() -> OutgoingEmail:
    return OutgoingEmail(
        delivery_id=42,
        to="ana@example.com",
        sender="hello@shop.example",
        sender_name="Ladder Demo Shop",
        subject="Gracias por tu primer pedido, Ana & Bo",
        html="<p>Hola Ana &amp; Bo</p>",
        text="Hola Ana & Bo\n",
        created_at=T0,
        headers={
            "List-Unsubscribe": "<https://shop.example/unsubscribe/1.abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        categories=("thank-you", "thank_you"),
        custom_args={"delivery_id": "42", "trigger": "thank-you", "segment": "new"},
    )


# --- the request body against the published schema ----------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def mail_send_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The PostMailSend body schema and the whole spec (for `$ref`s)."""
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    body = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    schema = json.loads(json.dumps(body["schema"]))
    # The spec's known quirk (see tests/fixtures/sendgrid/README.md): an object, string values.
    schema["properties"]["custom_args"] = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "string"},
    }
    return schema, spec


class SchemaCheck:
    """What in a value breaks a JSON schema: the keywords the PostMailSend schema uses."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            target: Any = self.spec
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            schema = target
        return schema

    def problems(self, schema: dict[str, Any], value: Any, at: str) -> list[str]:
        schema = self.resolve(schema)
        kind = schema.get("type")
        if kind and (
            not isinstance(value, _TYPES[kind]) or isinstance(value, bool) != (kind == "boolean")
        ):
            return [f"{at}: should be {kind}"]
        if isinstance(value, str):
            return self.string(schema, value, at)
        if isinstance(value, list):
            return self.array(schema, value, at)
        if isinstance(value, dict):
            return self.object(schema, value, at)
        return []

    def string(self, schema: dict[str, Any], value: str, at: str) -> list[str]:
        found = []
        if len(value) < schema.get("minLength", 0):
            found.append(f"{at}: shorter than {schema['minLength']}")
        if len(value) > schema.get("maxLength", len(value)):
            found.append(f"{at}: longer than {schema['maxLength']}")
        return found

    def array(self, schema: dict[str, Any], value: list[Any], at: str) -> list[str]:
        found = []
        if len(value) > schema.get("maxItems", len(value)):
            found.append(f"{at}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) < len(value):
            found.append(f"{at}: items repeat")
        for position, item in enumerate(value):
            found += self.problems(schema.get("items", {}), item, f"{at}[{position}]")
        return found

    def object(self, schema: dict[str, Any], value: dict[str, Any], at: str) -> list[str]:
        found = [
            f"{at}: {key} is required" for key in schema.get("required", ()) if key not in value
        ]
        if len(value) < schema.get("minProperties", 0):
            found.append(f"{at}: empty")
        known, others = schema.get("properties", {}), schema.get("additionalProperties")
        for key, item in value.items():
            if key in known:
                found += self.problems(known[key], item, f"{at}.{key}")
            elif isinstance(others, dict):
                found += self.problems(others, item, f"{at}.{key}")
            elif others is False:
                found.append(f"{at}.{key}: not allowed")
        return found


def body_problems(body: Any) -> list[str]:
    schema, spec = mail_send_schema()
    return SchemaCheck(spec).problems(schema, body, "body")


# --- the request ----------------------------------------------------------------------------


def test_an_email_is_posted_to_mail_send_with_the_api_key(sendgrid: FakeSendGrid) -> None:
    message_id = provider_for(sendgrid).send(outgoing())

    assert message_id == "sg-Q7x2Jt9a"
    [request] = sendgrid.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"


def test_the_body_names_recipient_sender_subject_and_puts_plain_text_first(
    sendgrid: FakeSendGrid,
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
    assert body["custom_args"]["delivery_id"] == "42"
    assert body["headers"] == {
        "List-Unsubscribe": "<https://shop.example/unsubscribe/1.abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["categories"] == ["thank-you", "thank_you"]


def test_the_body_is_valid_against_sendgrids_published_schema(sendgrid: FakeSendGrid) -> None:
    provider_for(sendgrid).send(outgoing())

    assert body_problems(sendgrid.requests[0].json()) == []


def test_the_schema_check_notices_a_body_sendgrid_would_refuse() -> None:
    bad = {
        "personalizations": [{"cc": [{"email": "bo@example.com"}]}],
        "subject": "",
        "content": [{"type": "text/plain"}],
        "custom_args": {"delivery_id": 42},
        "categories": ["a", "a"],
    }
    assert sorted(body_problems(bad)) == [
        "body.categories: items repeat",
        "body.content[0]: value is required",
        "body.custom_args.delivery_id: should be string",
        "body.personalizations[0]: to is required",
        "body.subject: shorter than 1",
        "body: from is required",
    ]


# --- the answers ----------------------------------------------------------------------------


def test_a_400_is_a_permanent_error_with_sendgrids_message(sendgrid: FakeSendGrid) -> None:
    sendgrid.answer(400, {"errors": [{"message": FROM_ERROR, "field": "from", "help": None}]})

    with pytest.raises(DeliveryError) as caught:
        provider_for(sendgrid).send(outgoing())

    assert caught.value.permanent
    assert str(caught.value) == f"SendGrid 400: {FROM_ERROR}"
    assert caught.value.retry_after_s is None


def test_a_400_with_several_errors_lists_them_all(sendgrid: FakeSendGrid) -> None:
    errors = [
        {"message": "The subject is required.", "field": "subject"},
        {"message": "The content value must be a string at least one character in length."},
    ]
    sendgrid.answer(400, {"errors": errors})

    with pytest.raises(DeliveryError, match=r"subject is required\.; The content value"):
        provider_for(sendgrid).send(outgoing())


def test_a_rejected_api_key_is_permanent(sendgrid: FakeSendGrid) -> None:
    sendgrid.answer(401, {"errors": [{"message": "The provided authorization grant is invalid"}]})

    with pytest.raises(DeliveryError, match="SendGrid 401: The provided authorization") as caught:
        provider_for(sendgrid).send(outgoing())
    assert caught.value.permanent


def test_a_500_is_transient(sendgrid: FakeSendGrid) -> None:
    sendgrid.answer(500, {"errors": [{"message": "internal error", "field": None}]})

    with pytest.raises(DeliveryError, match="SendGrid 500: internal error") as caught:
        provider_for(sendgrid).send(outgoing())
    assert not caught.value.permanent
    assert caught.value.retry_after_s is None


def test_a_500_without_a_json_body_is_transient_with_the_reason(sendgrid: FakeSendGrid) -> None:
    sendgrid.answer(500)

    with pytest.raises(DeliveryError, match="SendGrid 500: Internal Server Error") as caught:
        provider_for(sendgrid).send(outgoing())
    assert not caught.value.permanent


def test_a_429_is_transient_and_says_when_the_limit_resets(sendgrid: FakeSendGrid) -> None:
    reset = int(time.time()) + 30
    sendgrid.answer(
        429,
        {"errors": [{"message": "too many requests", "field": None}]},
        **{
            "X-RateLimit-Limit": "600",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )

    with pytest.raises(DeliveryError, match="SendGrid rate limit: too many requests") as caught:
        provider_for(sendgrid).send(outgoing())
    assert not caught.value.permanent
    assert caught.value.retry_after_s is not None
    assert 25 <= caught.value.retry_after_s <= 30


def test_a_429_whose_reset_has_passed_retries_after_a_second(sendgrid: FakeSendGrid) -> None:
    past = str(int(time.time()) - 5)
    sendgrid.answer(
        429, {"errors": [{"message": "too many requests"}]}, **{"X-RateLimit-Reset": past}
    )

    with pytest.raises(DeliveryError) as caught:
        provider_for(sendgrid).send(outgoing())
    assert caught.value.retry_after_s == 1.0


def test_an_unreachable_sendgrid_is_transient() -> None:
    provider = SendGridProvider(API_KEY, host=f"http://127.0.0.1:{free_port()}", timeout_s=5)

    with pytest.raises(DeliveryError, match="SendGrid unreachable") as caught:
        provider.send(outgoing())
    assert not caught.value.permanent


def test_a_sendgrid_that_does_not_answer_in_time_is_transient(sendgrid: FakeSendGrid) -> None:
    sendgrid.reply = Reply(hold=True)

    with pytest.raises(DeliveryError, match="SendGrid unreachable") as caught:
        provider_for(sendgrid, timeout_s=0.3).send(outgoing())
    assert not caught.value.permanent


# --- through `deliver`, as the worker sends ---------------------------------------------------


def sendgrid_runtime(runtime: Runtime, fake: FakeSendGrid) -> Runtime:
    settings = runtime.settings.model_copy(
        update={
            "email_backend": EmailBackend.SENDGRID,
            "sendgrid_api_key": SecretStr(API_KEY),
            "sendgrid_api_host": fake.url,
            "public_url": "https://shop.example",
        }
    )
    return Runtime(settings)


def due_thank_you(db: Session, runtime: Runtime) -> int:
    event = order_event(event_id="ord-1", order_id="1", at=T0, locale="es", first_name="Ana")
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, triggers=runtime.triggers, settings=runtime.settings)
    delivery = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).one()
    assert delivery.id is not None
    return delivery.id


def test_a_delivery_sent_through_sendgrid_records_its_message_id(
    db: Session, runtime: Runtime, sendgrid: FakeSendGrid
) -> None:
    live = sendgrid_runtime(runtime, sendgrid)
    delivery_id = due_thank_you(db, live)

    status = deliver(db, delivery_id, now=T0 + timedelta(hours=2), runtime=live)

    assert status == DeliveryStatus.SENT
    db.expire_all()
    sent = db.get_one(Delivery, delivery_id)
    assert (sent.provider_message_id, sent.variant) == (
        "sg-Q7x2Jt9a",
        "thank_you/default.es.html.j2",
    )
    body = sendgrid.requests[0].json()
    assert body_problems(body) == []
    assert body["subject"] == "Gracias por tu primer pedido, Ana"
    assert body["custom_args"]["delivery_id"] == str(delivery_id)
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"]["List-Unsubscribe"].startswith("<https://shop.example/unsubscribe/")
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_delivery_sendgrid_refuses_is_failed_with_sendgrids_message(
    db: Session, runtime: Runtime, sendgrid: FakeSendGrid
) -> None:
    live = sendgrid_runtime(runtime, sendgrid)
    delivery_id = due_thank_you(db, live)
    sendgrid.answer(400, {"errors": [{"message": FROM_ERROR, "field": "from"}]})

    status = deliver(db, delivery_id, now=T0 + timedelta(hours=2), runtime=live)

    assert status == DeliveryStatus.FAILED
    db.expire_all()
    failed = db.get_one(Delivery, delivery_id)
    assert (failed.status, failed.reason) == (DeliveryStatus.FAILED, f"SendGrid 400: {FROM_ERROR}")
    assert failed.provider_message_id is None
