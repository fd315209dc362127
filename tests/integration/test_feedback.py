"""`POST /webhooks/sendgrid`: signed provider events, stored raw, applied to deliveries,
suppressions and consent."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select
from typer.testing import CliRunner

from models import (
    Customer,
    Delivery,
    DeliveryStatus,
    Event,
    Preference,
    ProviderEvent,
    Suppression,
)
from tests.support.sendgrid_signer import SIGNATURE, TIMESTAMP, Signer
from tests.support.web import TestClient
from worker.authoring.status import status_report
from worker.cli import app
from worker.delivery import feedback
from worker.queue import clock
from worker.runtime import Runtime
from worker.web import create_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sendgrid"
VECTORS = json.loads((FIXTURES / "event_webhook_test_vectors.json").read_text(encoding="utf-8"))
SIGNED_BODY = (FIXTURES / "event_webhook_signed_body.bin").read_bytes()
SAMPLES: list[dict[str, Any]] = json.loads(
    (FIXTURES / "event_webhook_all_event_types.json").read_text(encoding="utf-8")
)
# The web app and the actors store and apply events on their own connections.
pytestmark = pytest.mark.commits

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def signer() -> Signer:
    return Signer()


def app_for(runtime: Runtime, **settings: object) -> FastAPI:
    return create_app(runtime.settings.model_copy(update=settings))


def client_for(runtime: Runtime, signer: Signer, **settings: object) -> TestClient:
    return TestClient(
        app_for(
            runtime,
            sendgrid_webhook_public_key=signer.public_key,
            sendgrid_group_marketing=10,
            **settings,
        )
    )


def sent_delivery(
    db: Session, *, email: str = "example@test.com", message_id: str = "sg_message_id"
) -> Delivery:
    customer = Customer(email=email, accepts_marketing=True, created_at=T0)
    db.add(customer)
    db.flush()
    cause = Event(
        source="api",
        source_event_id=f"e-{email}",
        type="order.placed",
        customer_id=customer.id,
        occurred_at=T0,
        received_at=T0,
        payload={},
    )
    db.add(cause)
    db.flush()
    delivery = Delivery(
        dedupe_key=f"thank-you:{cause.id}",
        trigger="thank-you",
        message="thank_you",
        customer_id=customer.id,  # type: ignore[arg-type]
        cause_event_id=cause.id,  # type: ignore[arg-type]
        status=DeliveryStatus.SENT,
        send_at=T0,
        created_at=T0,
        provider_message_id=message_id,
    )
    db.add(delivery)
    db.commit()
    return delivery


def post(client: TestClient, signer: Signer, events: list[dict[str, Any]]) -> Any:
    body = json.dumps(events).encode()
    return client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))


def sample(kind: str) -> dict[str, Any]:
    [event] = [e for e in SAMPLES if e["event"] == kind]
    return event


# --- sendgrid-python's published vector -----------------------------------------------------


def vector_headers(**changes: str) -> dict[str, str]:
    values = {SIGNATURE: VECTORS["signature_base64"], TIMESTAMP: VECTORS["timestamp"]}
    return {**values, **changes}


def test_the_published_vector_is_accepted_with_its_key(db: Session, runtime: Runtime) -> None:
    # The vector's message, as if Ladder had sent it to the address the event names.
    delivery = sent_delivery(db, email="hello@world.com", message_id="LRzXl_NHStOGhQ4kofSm_A")
    # The vector was signed in 2020: only an unbounded age lets it through.
    app = app_for(
        runtime,
        sendgrid_webhook_public_key=VECTORS["public_key_base64_der"],
        sendgrid_webhook_max_age_s=1e10,
    )

    answer = TestClient(app).post(
        "/webhooks/sendgrid", content=SIGNED_BODY, headers=vector_headers()
    )

    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "new": 1, "applied": 1}
    row = db.exec(select(ProviderEvent)).one()
    assert (row.provider, row.type) == ("sendgrid", "dropped")
    assert row.provider_event_id == VECTORS["payload_events"][0]["sg_event_id"]
    assert row.payload == VECTORS["payload_events"][0]
    assert row.occurred_at == datetime.fromtimestamp(1600112492, UTC)
    suppression = db.exec(select(Suppression)).one()
    assert (suppression.email, suppression.reason) == (
        "hello@world.com",
        "dropped: Bounced Address",
    )
    assert suppression.created_at == row.occurred_at
    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.DROPPED


@pytest.mark.parametrize(
    ("case", "key", "body", "headers"),
    [
        ("tampered body", "public_key_base64_der", b"payload", {}),
        ("wrong key", "wrong_public_key_base64_der", SIGNED_BODY, {}),
        (
            "wrong signature",
            "public_key_base64_der",
            SIGNED_BODY,
            {SIGNATURE: VECTORS["negative_cases"]["wrong_signature_base64"]},
        ),
        ("wrong timestamp", "public_key_base64_der", SIGNED_BODY, {TIMESTAMP: "1600112503"}),
        ("not a timestamp", "public_key_base64_der", SIGNED_BODY, {TIMESTAMP: "timestamp"}),
        ("no signature", "public_key_base64_der", SIGNED_BODY, {SIGNATURE: ""}),
    ],
)
def test_the_vector_altered_is_refused_and_nothing_is_stored(
    db: Session, runtime: Runtime, case: str, key: str, body: bytes, headers: dict[str, str]
) -> None:
    public_key = VECTORS.get(key) or VECTORS["negative_cases"][key]
    app = app_for(runtime, sendgrid_webhook_public_key=public_key, sendgrid_webhook_max_age_s=1e10)

    answer = TestClient(app).post(
        "/webhooks/sendgrid", content=body, headers=vector_headers(**headers)
    )

    assert answer.status_code == 401, case
    assert db.exec(select(ProviderEvent)).all() == []


def test_the_vector_is_refused_as_stale_under_the_default_age(
    db: Session, runtime: Runtime
) -> None:
    app = app_for(runtime, sendgrid_webhook_public_key=VECTORS["public_key_base64_der"])

    answer = TestClient(app).post(
        "/webhooks/sendgrid", content=SIGNED_BODY, headers=vector_headers()
    )

    assert (answer.status_code, answer.json()["detail"]) == (
        401,
        "timestamp too old or in the future",
    )
    assert db.exec(select(ProviderEvent)).all() == []


def test_a_body_signed_an_hour_ago_is_refused(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    body = json.dumps([sample("delivered")]).encode()
    headers = signer.headers(body, timestamp=int(time.time()) - 3600)

    answer = client_for(runtime, signer).post("/webhooks/sendgrid", content=body, headers=headers)

    assert answer.status_code == 401
    assert db.exec(select(ProviderEvent)).all() == []


def test_without_a_verification_key_events_are_refused(runtime: Runtime) -> None:
    answer = TestClient(app_for(runtime)).post(
        "/webhooks/sendgrid", content=SIGNED_BODY, headers=vector_headers()
    )
    assert answer.status_code == 503


def test_a_signed_body_that_is_not_an_event_array_is_a_400(
    runtime: Runtime, signer: Signer
) -> None:
    client = client_for(runtime, signer)
    for body in (b"{not json", b'{"event": "open"}', b"[1, 2]"):
        answer = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
        assert answer.status_code == 400


def test_an_oversized_body_is_a_413(runtime: Runtime, signer: Signer) -> None:
    body = b"[" + b" " * 2_000 + b"]"
    client = client_for(runtime, signer, max_body_bytes=1_000)
    answer = client.post("/webhooks/sendgrid", content=body, headers=signer.headers(body))
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        (b'[{"event": "open", "timestamp": NaN}]', None, "not JSON: NaN is not a JSON number"),
        (b"[" * 5000 + b"]" * 5000, None, "not JSON: nested deeper than 64 levels"),
        (b'[{"sg_event_id": ' + b"9" * 5000 + b"}]", None, "not JSON: an integer of more"),
        (b'[{"event": "open", "timestamp": 1e400}]', None, "not JSON: a number too large"),
        (b'[{"event": "open", "timestamp": 1e20}]', "0.timestamp", "must be between 1900"),
        (b'[{"event": "open", "timestamp": -99999999999}]', "0.timestamp", "must be between"),
        (b'[{"event": "open", "timestamp": "soon"}]', "0.timestamp", "must be a number"),
        (b'[{"event": "open", "delivery_id": "' + b"9" * 30 + b'"}]', "0.delivery_id", "must be"),
        (b'[{"event": "open", "delivery_id": 99999999999}]', "0.delivery_id", "must be a del"),
        (b'[{"event": "open", "sg_event_id": "e\\u0000"}]', "0.sg_event_id", "holds a NUL"),
        (b'[{"event": "bounce", "email": "a\\u0000@x.org"}]', "0.email", "holds a NUL"),
        (b'[{"event": "open", "sg_event_id": "\\ud800"}]', "0.sg_event_id", "is not valid Uni"),
        (b'[{"event": "open", "sg_event_id": 12}]', "0.sg_event_id", "must be text"),
        (b'[{"event": "open", "email": "' + b"a" * 400 + b'"}]', "0.email", "longer than 320"),
    ],
    ids=[
        "a NaN",
        "nested 5000 deep",
        "a 5000-digit id",
        "an infinite timestamp",
        "a timestamp in the year 3e12",
        "a timestamp before 1900",
        "a timestamp that is text",
        "a 30-digit delivery id",
        "a delivery id past the column",
        "a NUL in the event id",
        "a NUL in the address",
        "a lone surrogate",
        "an event id that is a number",
        "an address longer than the column",
    ],
)
def test_an_event_ladder_cannot_store_is_refused_with_a_400_naming_it_and_nothing_is_stored(
    db: Session, runtime: Runtime, signer: Signer, body: bytes, field: str | None, error: str
) -> None:
    good = json.dumps({**sample("delivered"), "sg_event_id": "good-1"}).encode()
    batch = b"[" + good + b", " + body[1:] if field else body  # the bad one second, as 1.x
    client = client_for(runtime, signer)

    answer = client.post("/webhooks/sendgrid", content=batch, headers=signer.headers(batch))

    assert answer.status_code == 400, answer.text
    if field is None:
        assert answer.json()["detail"].startswith(error)
    else:
        assert answer.json()["detail"] == "events Ladder cannot store; nothing was stored"
        [named] = answer.json()["errors"]
        assert named["field"] == "1." + field.removeprefix("0.")
        assert named["error"].startswith(error)
    assert db.exec(select(ProviderEvent)).all() == []


# --- every event type -----------------------------------------------------------------------

EXPECTED = {
    "processed": (DeliveryStatus.SENT, None),
    "deferred": (DeliveryStatus.DEFERRED, None),
    "delivered": (DeliveryStatus.DELIVERED, None),
    "open": (DeliveryStatus.OPENED, None),
    "click": (DeliveryStatus.CLICKED, None),
    "bounce": (DeliveryStatus.BOUNCED, "bounce: 500 unknown recipient"),
    "dropped": (DeliveryStatus.DROPPED, "dropped: Bounced Address"),
    "spamreport": (DeliveryStatus.SENT, "spamreport"),
    "unsubscribe": (DeliveryStatus.SENT, "unsubscribe"),
    "group_unsubscribe": (DeliveryStatus.SENT, None),
    "group_resubscribe": (DeliveryStatus.SENT, None),
}


def test_the_sample_names_every_event_type() -> None:
    assert sorted(e["event"] for e in SAMPLES) == sorted(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_event_type_is_stored_and_applied(
    db: Session, runtime: Runtime, signer: Signer, kind: str
) -> None:
    delivery = sent_delivery(db)
    status, suppressed_for = EXPECTED[kind]

    answer = post(client_for(runtime, signer), signer, [sample(kind)])

    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "new": 1, "applied": 1}
    db.expire_all()
    row = db.exec(select(ProviderEvent)).one()
    assert (row.type, row.delivery_id, row.payload) == (kind, delivery.id, sample(kind))
    assert row.applied_at is not None
    assert db.get_one(Delivery, delivery.id).status == status
    suppressions = [(s.email, s.reason) for s in db.exec(select(Suppression))]
    assert suppressions == ([("example@test.com", suppressed_for)] if suppressed_for else [])
    customer = db.get_one(Customer, delivery.customer_id)
    withdrawn = kind in ("spamreport", "unsubscribe", "group_unsubscribe")
    assert customer.accepts_marketing is not withdrawn
    if withdrawn:
        assert customer.consent_source == "sendgrid"
        assert customer.consent_changed_at == datetime.fromtimestamp(1513299569, UTC)
        choice = db.exec(select(Preference)).one()
        assert (choice.message_class, choice.opted_out) == ("marketing", True)


def test_a_bounce_reason_is_kept_on_the_delivery(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    delivery = sent_delivery(db)

    post(client_for(runtime, signer), signer, [sample("bounce")])

    db.expire_all()
    assert db.get_one(Delivery, delivery.id).reason == "bounce: 500 unknown recipient"


def test_a_repeated_event_is_stored_once(db: Session, runtime: Runtime, signer: Signer) -> None:
    sent_delivery(db)
    client = client_for(runtime, signer)

    first = post(client, signer, [sample("delivered")])
    again = post(client, signer, [sample("delivered")])

    assert (first.json()["new"], again.json()["new"]) == (1, 0)
    assert len(db.exec(select(ProviderEvent)).all()) == 1


def test_events_find_their_delivery_by_our_custom_argument(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    delivery = sent_delivery(db, message_id="other")
    event = {**sample("delivered"), "delivery_id": str(delivery.id), "sg_event_id": "e-1"}

    post(client_for(runtime, signer), signer, [event])

    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.DELIVERED


def test_a_late_event_does_not_move_a_delivery_back(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    delivery = sent_delivery(db)
    opened = {**sample("open"), "sg_event_id": "e-open", "timestamp": 1513299600}
    delivered = {**sample("delivered"), "sg_event_id": "e-delivered", "timestamp": 1513299500}
    client = client_for(runtime, signer)

    post(client, signer, [opened])
    post(client, signer, [delivered])

    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.OPENED


def test_an_event_settles_a_delivery_whose_202_was_never_recorded(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    delivery = sent_delivery(db, message_id="")
    delivery.status = DeliveryStatus.SENDING
    db.add(delivery)
    db.commit()
    event = {**sample("delivered"), "delivery_id": str(delivery.id), "sg_event_id": "e-2"}

    post(client_for(runtime, signer), signer, [event])

    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.DELIVERED


def test_a_soft_bounce_does_not_suppress_the_address(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    sent_delivery(db)
    blocked = {**sample("bounce"), "type": "blocked", "sg_event_id": "e-blocked"}

    post(client_for(runtime, signer), signer, [blocked])

    assert db.exec(select(Suppression)).all() == []


def test_an_event_settles_a_delivery_the_clock_gave_up_as_unknown(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    delivery = sent_delivery(db, message_id="")
    delivery.status = DeliveryStatus.FAILED
    delivery.reason = "outcome unknown: the worker stopped while sending; not resent"
    db.add(delivery)
    other = sent_delivery(db, email="bo@example.com", message_id="")
    other.status = DeliveryStatus.FAILED
    other.reason = "SendGrid 400: The subject is required."
    db.add(other)
    db.commit()
    events = [
        {**sample("delivered"), "delivery_id": str(d.id), "sg_event_id": f"e-{d.id}"}
        for d in (delivery, other)
    ]

    post(client_for(runtime, signer), signer, events)

    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.DELIVERED
    assert db.get_one(Delivery, other.id).status == DeliveryStatus.FAILED  # really refused


def test_an_event_that_could_not_be_applied_is_kept_shown_and_replayed(
    db: Session, runtime: Runtime, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = sent_delivery(db)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in apply")

    monkeypatch.setattr(feedback, "apply", broken)
    answer = post(client_for(runtime, signer), signer, [sample("delivered")])
    monkeypatch.undo()

    assert answer.status_code == 200  # stored raw: SendGrid need not send it again
    assert answer.json() == {"received": 1, "new": 1, "applied": 0}
    report = status_report(db, now=datetime.now(UTC), settings=runtime.settings)
    assert report["stuck"]["provider events unapplied"]["count"] == 1
    db.commit()
    replayed = CliRunner().invoke(app, ["sending", "replay-events"])
    assert replayed.output.strip() == "applied 1 of 1 stored provider events"
    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.DELIVERED


def test_the_clock_applies_an_event_left_unapplied_once_the_relay_has_waited(
    db: Session, runtime: Runtime, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = sent_delivery(db)
    monkeypatch.setattr(feedback, "apply", _broken)
    post(client_for(runtime, signer), signer, [sample("delivered")])
    monkeypatch.undo()
    db.commit()
    received = db.exec(select(ProviderEvent)).one().received_at
    wait = timedelta(seconds=runtime.settings.requeue_after_s)

    early = clock.tick(db, now=received + wait / 2, runtime=runtime)
    late = clock.tick(db, now=received + wait * 2, runtime=runtime)

    assert (early.provider_events, late.provider_events) == (0, 1)
    db.expire_all()
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.DELIVERED
    assert db.exec(select(ProviderEvent)).one().applied_at is not None


def _broken(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("a bug in apply")


# --- an event reaches an address only through a delivery Ladder sent to it ------------------


@pytest.mark.parametrize("kind", ["unsubscribe", "spamreport", "bounce", "group_unsubscribe"])
def test_a_signed_event_about_mail_ladder_never_sent_reaches_no_customer(
    db: Session, runtime: Runtime, signer: Signer, kind: str
) -> None:
    # Another sender on the same SendGrid account mailed Ladder's customer: its events are
    # signed by SendGrid all the same, but they are not about Ladder's mail.
    delivery = sent_delivery(db, email="example@test.com", message_id="ours")
    foreign = {**sample(kind), "sg_message_id": "theirs.filter0001", "sg_event_id": "e-theirs"}

    answer = post(client_for(runtime, signer), signer, [foreign])

    assert answer.status_code == 200
    db.expire_all()
    assert db.exec(select(Suppression)).all() == []
    assert db.exec(select(Preference)).all() == []
    assert db.get_one(Customer, delivery.customer_id).accepts_marketing is True
    assert db.get_one(Delivery, delivery.id).status == DeliveryStatus.SENT


def test_an_event_naming_our_delivery_but_another_address_changes_nothing(
    db: Session, runtime: Runtime, signer: Signer
) -> None:
    # Custom arguments are not ours alone: `delivery_id` 1 from another sender's mail to
    # someone else must neither move our delivery nor suppress that address.
    ours = sent_delivery(db, email="ana@example.com", message_id="ours")
    collided = {
        **sample("unsubscribe"),
        "email": "example@test.com",
        "delivery_id": str(ours.id),
        "sg_event_id": "e-collided",
    }
    bystander = sent_delivery(db, email="example@test.com", message_id="bystander")

    post(client_for(runtime, signer), signer, [collided])

    db.expire_all()
    assert db.exec(select(Suppression)).all() == []
    assert db.get_one(Customer, bystander.customer_id).accepts_marketing is True
    assert db.get_one(Customer, ours.customer_id).accepts_marketing is True
