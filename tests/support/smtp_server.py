"""A real SMTP server for the smtp backend's tests (aiosmtpd): STARTTLS or TLS from the first
byte with a throwaway certificate, AUTH PLAIN/LOGIN only over TLS, and the replies a real
server gives for some addresses, recording every message and the session it came in."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.certs import Certificates
from tests.support.services import free_port

USERNAME, PASSWORD = "ladder", "s3cret-app-password"
# What a server answers for these recipients (RFC 5321 codes, RFC 3463 enhanced codes).
REPLIES = {
    "nobody@example.com": "550 5.1.1 <nobody@example.com>: Recipient address rejected: no user",
    "blocked@example.com": "550 5.7.1 Message rejected by policy",
    "full@example.com": "452 4.2.2 Mailbox full, try again later",
}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    session: int  # one number per connection
    tls: bool
    login: str | None


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    sessions: dict[int, int] = field(default_factory=dict)  # id(session) → its number

    async def handle_RCPT(  # aiosmtpd's hook: its name, its arguments
        self,
        server: Any,  # noqa: ARG002
        session: Any,  # noqa: ARG002
        envelope: Any,
        address: str,
        rcpt_options: Any,  # noqa: ARG002
    ) -> str:
        reply = REPLIES.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        number = self.sessions.setdefault(id(session), len(self.sessions) + 1)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        # STARTTLS sets the session's `ssl`; TLS from the first byte shows on the transport.
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.received.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), message, number,
                tls, login,
            )
        )  # fmt: skip
        return "250 2.0.0 Ok: queued"


def _authenticate(
    server: Any,  # noqa: ARG001  (aiosmtpd's authenticator arguments)
    session: Any,  # noqa: ARG001
    envelope: Any,  # noqa: ARG001
    mechanism: str,  # noqa: ARG001
    auth_data: Any,
) -> AuthResult:
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=good, handled=False, auth_data=auth_data if good else None)


@dataclass
class SmtpServer:
    port: int
    handler: _Handler

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def running_smtp(certificates: Certificates, *, implicit_tls: bool = False) -> Iterator[SmtpServer]:
    """STARTTLS (required before AUTH and MAIL) on a free port, or TLS from the first byte."""
    handler = _Handler()
    port = free_port()
    context = certificates.server_context()
    tls: dict[str, Any] = (
        {"ssl_context": context}
        if implicit_tls
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        authenticator=_authenticate,
        # aiosmtpd counts only STARTTLS as TLS; a session on TLS from the first byte is one.
        auth_require_tls=not implicit_tls,
        **tls,
    )
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()
