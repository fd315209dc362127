"""`POST /webhooks/postmark`: Postmark's records behind HTTP Basic auth, stored raw, applied to
deliveries, suppressions and consent as SendGrid's events are."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from models import Customer, Delivery, DeliveryStatus, Event, Preference, ProviderEvent, Suppression
from tests.support.web import TestClient
from worker.privacy.erasure import forget
from worker.runtime import Runtime
from worker.web import create_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "postmark"
USER, PASSWORD = "postmark", "a-long-random-webhook-password"
# The web app stores and applies records on its own connections.
pytestmark = pytest.mark.commits

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return record


def client_for(runtime: Runtime, **settings: object) -> TestClient:
    values: dict[str, object] = {
        "postmark_webhook_username": USER,
        "postmark_webhook_password": SecretStr(PASSWORD),
        **settings,
    }
    return TestClient(create_app(runtime.settings.model_copy(update=values)))


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def post(client: TestClient, record: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/webhooks/postmark",
        content=json.dumps(record).encode(),
        headers={"Content-Type": "application/json", **basic(), **headers},
    )


def sent_delivery(db: Session, *, email: str, message_id: str) -> Delivery:
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


def for_sample(db: Session, record: dict[str, Any]) -> Delivery:
    """A delivery of ours to the address the sample names, under the sample's MessageID."""
    email = record.get("Email") or record["Recipient"]
    return sent_delivery(db, email=email, message_id=record["MessageID"])


def status_of(db: Session, delivery: Delivery) -> DeliveryStatus:
    db.expire_all()
    return db.get_one(Delivery, delivery.id).status


def suppressions(db: Session) -> list[tuple[str, str]]:
    return [(s.email, s.reason) for s in db.exec(select(Suppression))]


# --- HTTP Basic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(password="wrong"),
        basic(user="other"),
        basic(password=PASSWORD + "x"),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},
    ],
)
def test_a_request_without_the_credentials_is_a_401_and_stores_nothing(
    db: Session, runtime: Runtime, headers: dict[str, str]
) -> None:
    client = client_for(runtime)

    answer = client.post(
        "/webhooks/postmark", content=json.dumps(sample("bounce_webhook")), headers=headers
    )

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Basic realm="postmark"'
    assert db.exec(select(ProviderEvent)).all() == []


def test_without_credentials_configured_records_are_refused(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime.settings))

    answer = post(client, sample("bounce_webhook"))

    assert answer.status_code == 503
    assert "POSTMARK_WEBHOOK_USERNAME" in answer.json()["detail"]


def test_a_body_that_is_not_a_record_is_a_400(runtime: Runtime) -> None:
    client = client_for(runtime)
    for body in (b"not json", b"[]", b'{"ID": 1}'):
        answer = client.post("/webhooks/postmark", content=body, headers=basic())
        assert answer.status_code == 400


def test_a_record_ladder_cannot_store_is_a_400_naming_it(db: Session, runtime: Runtime) -> None:
    record = {
        **sample("delivery_webhook"),
        "DeliveredAt": "yesterday",
        "Metadata": {"delivery_id": "99999999999"},
        "Details": "a\x00b",
    }

    answer = post(client_for(runtime), record)

    assert answer.status_code == 400
    fields = sorted(error["field"] for error in answer.json()["errors"])
    assert fields == ["Details", "Metadata.delivery_id", "time"]
    assert db.exec(select(ProviderEvent)).all() == []


# --- Postmark's documented samples ----------------------------------------------------------


def test_the_bounce_sample_bounces_the_delivery_and_suppresses_the_address(
    db: Session, runtime: Runtime
) -> None:
    record = sample("bounce_webhook")
    delivery = for_sample(db, record)  # its Metadata is not ours: found by the MessageID

    answer = post(client_for(runtime), record)

    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "new": 1, "applied": 1}
    row = db.exec(select(ProviderEvent)).one()
    assert (row.provider, row.provider_event_id, row.type) == ("postmark", "Bounce:42", "bounce")
    assert (row.delivery_id, row.payload) == (delivery.id, record)
    assert row.occurred_at == datetime(2014, 8, 1, 17, 28, 10, 273539, tzinfo=UTC)
    assert status_of(db, delivery) == DeliveryStatus.BOUNCED
    assert db.get_one(Delivery, delivery.id).reason == (
        "bounce: HardBounce: The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found)."
    )
    assert suppressions(db) == [("john@example.com", "bounce: HardBounce")]


def test_the_spam_complaint_sample_suppresses_and_withdraws_marketing_consent(
    db: Session, runtime: Runtime
) -> None:
    record = sample("spam_complaint_webhook")
    delivery = for_sample(db, record)

    post(client_for(runtime), record)

    db.expire_all()
    assert suppressions(db) == [("john@example.com", "spamreport")]
    customer = db.get_one(Customer, delivery.customer_id)
    assert (customer.accepts_marketing, customer.consent_source) == (False, "postmark")
    assert customer.consent_changed_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    choice = db.exec(select(Preference)).one()
    assert (choice.message_class, choice.opted_out) == ("marketing", True)
    assert status_of(db, delivery) == DeliveryStatus.SENT  # a complaint moves no status


def test_the_subscription_change_sample_is_a_hard_bounce_on_a_broadcast_stream(
    db: Session, runtime: Runtime
) -> None:
    # Broadcast streams have no Bounce webhook: the suppression is how the news arrives.
    record = {**sample("subscription_change_webhook"), "MessageStream": "broadcast"}
    delivery = for_sample(db, record)

    post(client_for(runtime), record)

    assert status_of(db, delivery) == DeliveryStatus.BOUNCED
    assert suppressions(db) == [("bounced-address@wildbit.com", "bounce: HardBounce")]


def test_an_unsubscribe_on_the_broadcast_stream_leaves_marketing_without_suppressing(
    db: Session, runtime: Runtime
) -> None:
    record = {
        **sample("subscription_change_webhook"),
        "MessageStream": "broadcast",
        "SuppressionReason": "ManualSuppression",
    }
    delivery = for_sample(db, record)

    post(client_for(runtime), record)

    db.expire_all()
    assert suppressions(db) == []
    assert db.get_one(Customer, delivery.customer_id).accepts_marketing is False
    choice = db.exec(select(Preference)).one()
    assert (choice.message_class, choice.opted_out) == ("marketing", True)
    assert status_of(db, delivery) == DeliveryStatus.SENT


def test_a_reactivation_changes_nothing_in_ladder(db: Session, runtime: Runtime) -> None:
    record = {
        **sample("subscription_change_webhook"),
        "SuppressSending": False,
        "SuppressionReason": None,
    }
    delivery = for_sample(db, record)

    post(client_for(runtime), record)

    assert db.exec(select(ProviderEvent)).one().type == "resubscribe"
    assert suppressions(db) == []
    assert status_of(db, delivery) == DeliveryStatus.SENT


def test_the_delivery_sample_marks_the_delivery_delivered(db: Session, runtime: Runtime) -> None:
    record = sample("delivery_webhook")
    delivery = for_sample(db, record)

    post(client_for(runtime), record)

    assert status_of(db, delivery) == DeliveryStatus.DELIVERED


def test_records_find_their_delivery_by_our_metadata(db: Session, runtime: Runtime) -> None:
    delivery = sent_delivery(db, email="recipeint@example.com", message_id="another-id")
    record = {**sample("delivery_webhook"), "Metadata": {"delivery_id": str(delivery.id)}}

    post(client_for(runtime), record)

    assert db.exec(select(ProviderEvent)).one().delivery_id == delivery.id
    assert status_of(db, delivery) == DeliveryStatus.DELIVERED


def test_a_repeated_record_is_stored_once(db: Session, runtime: Runtime) -> None:
    for_sample(db, sample("delivery_webhook"))
    client = client_for(runtime)

    first = post(client, sample("delivery_webhook"))
    again = post(client, sample("delivery_webhook"))

    assert (first.json()["new"], again.json()["new"]) == (1, 0)
    assert len(db.exec(select(ProviderEvent)).all()) == 1


def test_opens_and_clicks_move_the_delivery_forward_only(db: Session, runtime: Runtime) -> None:
    delivery = sent_delivery(db, email="ana@example.com", message_id="m-1")
    common = {"MessageID": "m-1", "Recipient": "ana@example.com", "MessageStream": "broadcast"}
    client = client_for(runtime)

    post(client, {"RecordType": "Click", "ReceivedAt": "2026-05-01T12:05:00Z", **common})
    post(client, {"RecordType": "Open", "ReceivedAt": "2026-05-01T12:00:00Z", **common})

    assert status_of(db, delivery) == DeliveryStatus.CLICKED
    types = sorted(row.type for row in db.exec(select(ProviderEvent)))
    assert types == ["click", "open"]


@pytest.mark.parametrize(
    ("bounce_type", "inactive", "status", "suppressed"),
    [
        ("Transient", False, DeliveryStatus.DEFERRED, False),
        ("SoftBounce", False, DeliveryStatus.BOUNCED, False),
        ("SoftBounce", True, DeliveryStatus.BOUNCED, True),  # Postmark deactivated it
        ("AutoResponder", False, DeliveryStatus.SENT, False),  # an out-of-office reply
        ("BadEmailAddress", False, DeliveryStatus.BOUNCED, True),
    ],
)
def test_only_a_dead_address_is_suppressed(
    db: Session,
    runtime: Runtime,
    bounce_type: str,
    inactive: bool,
    status: DeliveryStatus,
    suppressed: bool,
) -> None:
    record = {**sample("bounce_webhook"), "Type": bounce_type, "Inactive": inactive}
    delivery = for_sample(db, record)

    post(client_for(runtime), record)

    assert status_of(db, delivery) == status
    assert bool(suppressions(db)) is suppressed


def test_a_record_about_mail_ladder_never_sent_reaches_no_customer(
    db: Session, runtime: Runtime
) -> None:
    # Another application on the same Postmark server mailed Ladder's customer.
    delivery = sent_delivery(db, email="john@example.com", message_id="ours")

    answer = post(client_for(runtime), sample("spam_complaint_webhook"))

    assert answer.status_code == 200
    db.expire_all()
    assert suppressions(db) == []
    assert db.get_one(Customer, delivery.customer_id).accepts_marketing is True


def test_a_record_naming_our_delivery_but_another_address_changes_nothing(
    db: Session, runtime: Runtime
) -> None:
    ours = sent_delivery(db, email="ana@example.com", message_id="ours")
    record = {**sample("bounce_webhook"), "Metadata": {"delivery_id": str(ours.id)}}

    post(client_for(runtime), record)

    assert status_of(db, ours) == DeliveryStatus.SENT
    assert suppressions(db) == []


def test_forgetting_a_customer_scrubs_postmarks_records_about_them(
    db: Session, runtime: Runtime
) -> None:
    bounce = {**sample("bounce_webhook"), "Content": "550 <john@example.com>: no such user"}
    delivery = for_sample(db, bounce)
    click = {
        "RecordType": "Click",
        "MessageID": bounce["MessageID"],
        "Recipient": "john@example.com",
        "OriginalLink": "https://shop.example/u/secret-token",
        "UserAgent": "Mozilla/5.0",
        "Geo": {"IP": "203.0.113.7", "City": "Leith"},
        "ReceivedAt": "2026-05-01T12:00:00Z",
    }
    client = client_for(runtime)
    post(client, bounce)
    post(client, click)
    customer = db.get_one(Customer, delivery.customer_id)

    forget(db, customer, source="cli", reference=None, now=T0, settings=runtime.settings)
    db.commit()

    db.expire_all()
    rows = {row.type: row.payload for row in db.exec(select(ProviderEvent))}
    for personal in ("Email", "Description", "Details", "Content", "Subject"):
        assert rows["bounce"][personal] is None
    for personal in ("Recipient", "OriginalLink", "UserAgent", "Geo"):
        assert rows["click"][personal] is None
    assert rows["bounce"]["Type"] == "HardBounce"  # what happened stays, not who
    assert "john@example.com" not in json.dumps(rows)
