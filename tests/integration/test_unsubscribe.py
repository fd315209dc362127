"""Unsubscribe links: a confirm page, one-click POST (RFC 8058), preferences, nothing mailed
after."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Preference
from tests.support.factories import order_event
from tests.support.services import free_port
from tests.support.waiting import wait_until
from tests.support.web import TestClient
from worker import current_time
from worker.delivery.batches import deliver_many
from worker.delivery.sending import deliver
from worker.delivery.tokens import unsubscribe_token
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import Settings
from worker.web import create_app

# The web app reads and writes consent on its own connections.
pytestmark = pytest.mark.commits

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=2)


def _customer(db: Session, locale: str | None = None) -> Customer:
    customer = Customer(
        email="ana@example.com",
        accepts_marketing=True,
        locale=locale,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    db.add(customer)
    db.commit()
    return customer


def _token(runtime: Runtime, customer: Customer, message_class: str = "marketing") -> str:
    return unsubscribe_token(runtime.settings.secret_key(), customer.id, message_class)  # type: ignore[arg-type]


@pytest.fixture
def live_web(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web app on a real port, as a mail client's POST reaches it."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime.settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=10, what="uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_link_shows_a_confirm_page_in_the_customers_language_and_changes_nothing(
    db: Session, runtime: Runtime
) -> None:
    customer = _customer(db, locale="es-MX")
    token = _token(runtime, customer)
    client = TestClient(create_app(runtime.settings))

    page = client.get(f"/u/{token}")

    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    assert f"¿Dejar de recibir correos promocionales de {runtime.settings.shop_name}?" in page.text
    assert '<button type="submit">Darme de baja</button>' in page.text
    assert f'href="/u/{token}/preferences"' in page.text
    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is True


def test_one_click_from_a_mail_client_withdraws_consent_without_a_login(
    db: Session, runtime: Runtime, live_web: str
) -> None:
    customer = _customer(db)
    token = _token(runtime, customer)
    current_time.freeze(datetime(2026, 6, 1, 12, tzinfo=UTC))

    # RFC 8058 §3.1: what Gmail sends on "Unsubscribe": a form POST, no cookies, no redirect.
    statuses = []
    for _ in range(2):
        request = urllib.request.Request(
            f"{live_web}/u/{token}",
            data=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            statuses.append(answer.status)

    assert statuses == [200, 200]
    db.expire_all()
    stored = db.get_one(Customer, customer.id)
    assert stored.accepts_marketing is False
    assert stored.consent_source == "unsubscribe_link"
    assert stored.consent_changed_at == datetime(2026, 6, 1, 12, tzinfo=UTC)
    choice = db.exec(select(Preference)).one()
    assert (choice.message_class, choice.opted_out) == ("marketing", True)


def test_after_one_click_the_next_email_is_not_sent_even_if_the_shop_says_yes_again(
    db: Session, runtime: Runtime
) -> None:
    event = order_event(event_id="ord-1", order_id="1", at=T0)
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    customer = db.exec(select(Customer)).one()
    db.commit()  # SQLite: end the read, so the web request can write
    client = TestClient(create_app(runtime.settings))
    current_time.freeze(T0 + timedelta(minutes=1))  # the click, before the shop's next word
    assert client.post(f"/u/{_token(runtime, customer)}").status_code == 200
    # The shop, unaware, still says the customer accepts marketing: a newer statement than the
    # click, so consent reads "yes" again, and the per-class choice is what stops the email.
    again = order_event(event_id="ord-2", order_id="2", at=T0 + timedelta(minutes=5), consent=True)
    [again_id] = store_events(db, [again], now=T0).stored
    process(db, again_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    delivery = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).one()

    assert deliver(db, delivery.id, now=DUE, runtime=runtime) == DeliveryStatus.SUPPRESSED  # type: ignore[arg-type]

    db.expire_all()
    assert db.get_one(Delivery, delivery.id).reason == "opted out of marketing mail"


def test_a_batch_reads_each_customers_choice_for_the_class_of_mail_it_sends(
    db: Session, runtime: Runtime
) -> None:
    for name in ("ana", "bo"):
        event = order_event(
            event_id=f"ord-{name}", order_id=name, at=T0, email=f"{name}@example.com", consent=True
        )
        [event_id] = store_events(db, [event], now=T0).stored
        process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    ids = {c.email: c.id for c in db.exec(select(Customer)).all()}
    for email, message_class in (
        ("ana@example.com", "marketing"),
        ("bo@example.com", "transactional"),
    ):
        db.add(
            Preference(
                customer_id=ids[email],  # type: ignore[arg-type]
                message_class=message_class,
                opted_out=True,
                source="preferences_page",
                changed_at=T0,
            )
        )
    db.commit()

    thanks = select(Delivery).where(col(Delivery.trigger) == "thank-you")
    due = [row.id for row in db.exec(thanks.order_by(col(Delivery.id))).all()]

    assert deliver_many(db, due, now=DUE, runtime=runtime).waiting == []  # type: ignore[arg-type]

    db.expire_all()
    rows = db.exec(thanks.order_by(col(Delivery.customer_id))).all()
    assert [(row.customer_id, row.status, row.reason) for row in rows] == [
        (ids["ana@example.com"], DeliveryStatus.SUPPRESSED, "opted out of marketing mail"),
        (ids["bo@example.com"], DeliveryStatus.SENT, None),  # only transactional mail refused
    ]


def test_links_sent_before_message_classes_still_work(db: Session, runtime: Runtime) -> None:
    customer = _customer(db)
    client = TestClient(create_app(runtime.settings))
    token = _token(runtime, customer)

    assert client.get(f"/unsubscribe/{token}").status_code == 200
    assert client.post(f"/unsubscribe/{token}").status_code == 200

    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is False


def test_the_preferences_page_keeps_transactional_mail_and_drops_marketing(
    db: Session, runtime: Runtime
) -> None:
    customer = _customer(db, locale="de")
    token = _token(runtime, customer, "transactional")
    client = TestClient(create_app(runtime.settings))

    page = client.get(f"/u/{token}/preferences")
    assert page.status_code == 200
    assert 'name="marketing" value="yes" checked' in page.text
    assert 'name="transactional" value="yes" checked' in page.text
    saved = client.post(
        f"/u/{token}/preferences",
        content="transactional=yes",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert saved.status_code == 200 and "Ihre Auswahl ist gespeichert." in saved.text
    db.expire_all()
    choices = {p.message_class: p.opted_out for p in db.exec(select(Preference))}
    assert choices == {"marketing": True, "transactional": False}
    assert db.get_one(Customer, customer.id).accepts_marketing is False
    db.commit()  # SQLite: end the read, so the web request can run
    page = client.get(f"/u/{token}/preferences")
    assert 'name="marketing" value="yes">' in page.text


def test_a_transactional_link_stops_only_transactional_mail(db: Session, runtime: Runtime) -> None:
    customer = _customer(db)
    client = TestClient(create_app(runtime.settings))

    assert client.post(f"/u/{_token(runtime, customer, 'transactional')}").status_code == 200

    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is True
    choice = db.exec(select(Preference)).one()
    assert (choice.message_class, choice.opted_out) == ("transactional", True)


def test_a_forged_or_altered_token_is_refused(db: Session, runtime: Runtime) -> None:
    customer = _customer(db)
    forged = unsubscribe_token(b"someone-elses-key", customer.id)  # type: ignore[arg-type]
    client = TestClient(create_app(runtime.settings))
    other_class = _token(runtime, customer).replace(".m.", ".t.")

    assert client.post(f"/u/{forged}").status_code == 404
    assert client.post(f"/u/{other_class}").status_code == 404
    assert client.get(f"/u/{customer.id}.m.abc").status_code == 404
    assert client.post(f"/u/{forged}/preferences", content="").status_code == 404
    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is True


def test_an_oversized_preferences_form_is_refused(db: Session, runtime: Runtime) -> None:
    customer = _customer(db)
    client = TestClient(create_app(Settings(**runtime.settings.model_dump())))

    answer = client.post(f"/u/{_token(runtime, customer)}/preferences", content="x" * 10_000)

    assert answer.status_code == 413


@pytest.mark.parametrize(
    "customer_part",
    ["²", "9" * 5000, str(2**31), "٣"],
    ids=["a superscript two", "5,000 digits", "past the id column", "an Arabic-Indic three"],
)
def test_a_token_whose_id_no_row_can_have_is_refused_with_404_not_500(
    db: Session, runtime: Runtime, customer_part: str
) -> None:
    customer = _customer(db)
    mac = _token(runtime, customer).rsplit(".", 1)[1]
    client = TestClient(create_app(runtime.settings))

    answers = [
        client.get(f"/u/{customer_part}.m.{mac}").status_code,
        client.post(f"/u/{customer_part}.m.{mac}").status_code,
        client.post(f"/u/{customer_part}.{mac}/preferences", content="").status_code,
    ]

    assert answers == [404, 404, 404]
    db.expire_all()
    assert db.get_one(Customer, customer.id).accepts_marketing is True
