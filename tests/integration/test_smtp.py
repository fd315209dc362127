"""The smtp backend against a real SMTP server (aiosmtpd): STARTTLS or TLS, AUTH, one session
kept open for many emails, and each reply code turned into what becomes of the delivery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlmodel import Session, col, select

from models import Delivery, DeliveryStatus, SendingPause, Suppression
from tests.support.certs import Certificates, make_certificates
from tests.support.factories import order_event
from tests.support.services import free_port
from tests.support.smtp_server import PASSWORD, USERNAME, SmtpServer, running_smtp
from worker.delivery.sending import deliver
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.providers import DeliveryError, OutgoingEmail
from worker.providers.smtp import SmtpProvider
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import EmailBackend, Settings, SmtpSecurity

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def server(certificates: Certificates) -> Iterator[SmtpServer]:
    with running_smtp(certificates) as running:
        yield running


def provider_for(
    server: SmtpServer, certificates: Certificates, *, password: str = PASSWORD, **more: object
) -> SmtpProvider:
    return SmtpProvider(
        "127.0.0.1", server.port, username=USERNAME, password=password,
        ca_file=certificates.ca_file, timeout_s=5, **more,  # type: ignore[arg-type]
    )  # fmt: skip


# Inlined CSS makes one long line of HTML; SMTP allows 998 characters a line (RFC 5321).
LONG_HTML = (
    "<p>" + " ".join(f'<span style="color:#5a3e2b">word {n}</span>' for n in range(60)) + "</p>"
)


def outgoing(delivery_id: int = 42, to: str = "ana@example.com") -> OutgoingEmail:
    return OutgoingEmail(
        delivery_id=delivery_id,
        to=to,
        sender="hello@shop.example",
        sender_name="Ladder Demo Shop",
        subject="Gracias por tu primer pedido, Ana",
        html=LONG_HTML,
        text="Hola Ana\n",
        created_at=T0,
        key=f"{delivery_id:09d}-0123456789",
        headers={
            "List-Unsubscribe": "<https://shop.example/u/1.m.abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def test_an_email_goes_over_starttls_after_login_with_its_headers(
    server: SmtpServer, certificates: Certificates
) -> None:
    message_id = provider_for(server, certificates).send(outgoing())

    [got] = server.received
    assert message_id == "<ladder-delivery-42@shop.example>" == got.message["Message-ID"]
    assert (got.tls, got.login) == (True, USERNAME)  # TLS first, then the password
    assert (got.mail_from, got.rcpt_tos) == ("hello@shop.example", ["ana@example.com"])
    assert got.message["Subject"] == "Gracias por tu primer pedido, Ana"
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [part.get_content_type() for part in got.message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    html = got.message.get_body(("html",))
    assert html is not None and html.get_content() == LONG_HTML  # folded on the way, whole here


def test_one_session_carries_many_emails(server: SmtpServer, certificates: Certificates) -> None:
    provider = provider_for(server, certificates)

    for delivery_id in range(1, 6):
        provider.send(outgoing(delivery_id))

    assert len(server.received) == 5
    assert {got.session for got in server.received} == {1}  # one TLS handshake, one login


def test_tls_from_the_first_byte(certificates: Certificates) -> None:
    with running_smtp(certificates, implicit_tls=True) as implicit:
        provider_for(implicit, certificates, security=SmtpSecurity.TLS).send(outgoing())
        [got] = implicit.received
    assert (got.tls, got.login) == (True, USERNAME)


@pytest.mark.parametrize(
    ("to", "permanent", "bounce", "said"),
    [
        ("nobody@example.com", True, True, "SMTP recipient refused: 550 5.1.1"),
        ("blocked@example.com", True, False, "SMTP recipient refused: 550 5.7.1 Message rejected"),
        ("full@example.com", False, False, "SMTP recipient refused: 452 4.2.2 Mailbox full"),
    ],
)
def test_the_servers_reply_says_what_becomes_of_the_email(
    server: SmtpServer,
    certificates: Certificates,
    to: str,
    permanent: bool,
    bounce: bool,
    said: str,
) -> None:
    provider = provider_for(server, certificates)
    with pytest.raises(DeliveryError) as caught:
        provider.send(outgoing(to=to))
    assert (caught.value.permanent, caught.value.bounce) == (permanent, bounce)
    assert str(caught.value).startswith(said)
    assert not caught.value.pauses_sending
    provider.send(outgoing(7))  # the next email still goes
    assert [got.rcpt_tos for got in server.received] == [["ana@example.com"]]


def test_a_refused_login_or_an_untrusted_certificate_pauses_sending(
    server: SmtpServer, certificates: Certificates, tmp_path: Path
) -> None:
    with pytest.raises(DeliveryError) as refused:
        provider_for(server, certificates, password="wrong").send(outgoing())
    assert refused.value.pauses_sending
    assert str(refused.value).startswith("SMTP login refused: 535")

    stranger = make_certificates(tmp_path / "other")  # a CA the server's certificate is not from
    with pytest.raises(DeliveryError) as untrusted:
        SmtpProvider(
            "127.0.0.1", server.port, ca_file=stranger.ca_file, timeout_s=5
        ).send(outgoing())  # fmt: skip
    assert untrusted.value.pauses_sending
    assert "certificate is not trusted" in str(untrusted.value)
    assert "SMTP_CA_FILE" in str(untrusted.value)
    assert server.received == []


def test_a_server_that_is_not_there_is_a_transient_error() -> None:
    provider = SmtpProvider("127.0.0.1", free_port(), security=SmtpSecurity.NONE, timeout_s=2)
    with pytest.raises(DeliveryError) as caught:
        provider.send(outgoing())
    assert not caught.value.permanent and not caught.value.pauses_sending
    assert str(caught.value).startswith("SMTP server 127.0.0.1 unreachable")


def test_settings_refuse_a_password_in_the_clear_and_a_backend_without_a_host() -> None:
    with pytest.raises(ValidationError, match="SMTP_HOST must be set"):
        Settings(email_backend=EmailBackend.SMTP)
    with pytest.raises(ValidationError, match="would send SMTP_PASSWORD in the clear"):
        Settings(
            email_backend=EmailBackend.SMTP, smtp_host="mail.example", smtp_username="u",
            smtp_password=SecretStr("p"), smtp_security=SmtpSecurity.NONE,
        )  # fmt: skip


# --- through the pipeline ---------------------------------------------------------------------


def smtp_runtime(runtime: Runtime, server: SmtpServer, certificates: Certificates) -> Runtime:
    return Runtime(
        runtime.settings.model_copy(
            update={
                "email_backend": EmailBackend.SMTP,
                "smtp_host": "127.0.0.1",
                "smtp_port": server.port,
                "smtp_username": USERNAME,
                "smtp_password": SecretStr(PASSWORD),
                "smtp_ca_file": certificates.ca_file,
            }
        )
    )


def thank_you(db: Session, runtime: Runtime, email: str) -> Delivery:
    placed = order_event(event_id=f"o-{email}", order_id=email, at=T0, email=email)
    for event_id in store_events(db, [placed], now=T0).stored:
        process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    return db.exec(
        select(Delivery)
        .where(col(Delivery.trigger) == "thank-you")
        .order_by(col(Delivery.id).desc())
    ).first()  # type: ignore[return-value]


def test_a_delivery_sent_by_smtp_records_its_message_id_and_a_hard_bounce_suppresses(
    db: Session, runtime: Runtime, server: SmtpServer, certificates: Certificates
) -> None:
    smtp = smtp_runtime(runtime, server, certificates)
    due = T0 + timedelta(hours=3)

    sent = thank_you(db, smtp, "ana@example.com")
    status = deliver(db, sent.id or 0, now=due, runtime=smtp)
    db.refresh(sent)
    assert status == DeliveryStatus.SENT, sent.reason
    bounced = thank_you(db, smtp, "nobody@example.com")
    assert deliver(db, bounced.id or 0, now=due, runtime=smtp) == DeliveryStatus.FAILED
    later = thank_you(db, smtp, "full@example.com")
    assert deliver(db, later.id or 0, now=due, runtime=smtp) == DeliveryStatus.SCHEDULED

    for row in (sent, bounced, later):
        db.refresh(row)
    assert sent.provider_message_id == f"<ladder-delivery-{sent.id}@shop.example>"
    assert [got.message["Subject"] for got in server.received] == [
        server.received[0].message["Subject"]
    ]
    assert str(bounced.reason).startswith("SMTP recipient refused: 550 5.1.1")
    [suppressed] = db.exec(select(Suppression)).all()
    assert suppressed.email == "nobody@example.com" and suppressed.reason.startswith("bounce: SMTP")
    assert (later.failures, str(later.reason)[:28]) == (1, "will retry: SMTP recipient r")
    assert db.exec(select(SendingPause)).all() == []
