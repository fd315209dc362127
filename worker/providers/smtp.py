"""SMTP: any provider's relay or the shop's own server, through the standard library's client.

Each worker thread keeps its connection open between emails (an SMTP session carries any
number of messages), so TLS and AUTH are paid once, not per email; a connection idle longer
than `IDLE_S` is closed first (servers drop idle sessions, and a dead one would fail the next
email). What the server answers decides what becomes of the delivery (RFC 5321, 3463):

- 2xx: sent; the provider's message id is the Message-ID Ladder gave it.
- 4xx, a dropped connection, a timeout: transient, retried with the usual back-off.
- 5xx for the recipient or the message: permanent, the delivery fails with the server's words;
  an enhanced code 5.1.x (no such mailbox, no such domain, a malformed address) is a hard
  bounce, so the address is suppressed as a SendGrid bounce would be.
- a refused login, sender or TLS: every email would fail alike, so sending pauses.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
import time
from pathlib import Path

import redis

from worker.providers import DeliveryError, OutgoingEmail
from worker.providers.mime import message_id
from worker.providers.ratelimit import RateLimiter, build_rate_limiter
from worker.settings import Settings, SmtpSecurity

IDLE_S = 30.0  # reuse a session idle at most this long (most servers allow 60 s or more)
_ENHANCED = re.compile(rb"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class SmtpProvider:
    idempotent = False
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: SmtpSecurity = SmtpSecurity.STARTTLS,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        ca_file: Path | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self.rate_limiter = rate_limiter
        self._local = threading.local()  # this thread's session and when it was last used

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpProvider:
        if not settings.smtp_host:
            raise ValueError("EMAIL_BACKEND=smtp needs SMTP_HOST")
        password = settings.smtp_password
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            timeout_s=settings.smtp_timeout_s,
            ca_file=settings.smtp_ca_file,
            rate_limiter=build_rate_limiter(
                cls.name, settings.smtp_messages_per_s, settings.shared_redis_url
            ),
        )

    def send(self, email: OutgoingEmail) -> str:
        """Returns the email's Message-ID once the server took it. Raises DeliveryError."""
        # smtplib sends bytes as they are: lines must end CRLF already (a bare LF is refused by
        # many servers since the SMTP smuggling fixes, and read as one endless line by others).
        wire = email.to_bytes(linesep="\r\n")
        try:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
        except redis.RedisError as exc:
            raise DeliveryError(f"rate limiter unreachable: {exc}", permanent=False) from exc
        try:
            self._session().sendmail(email.sender, [email.to], wire)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()  # whatever the session's state now, the next email starts afresh
            raise _refusal(exc, sender=email.sender, host=self.host) from exc
        self._local.used = time.monotonic()
        return message_id(email)

    def _session(self) -> smtplib.SMTP:
        """This thread's open session, or a new one (connected, TLS, logged in)."""
        session: smtplib.SMTP | None = getattr(self._local, "session", None)
        if session is not None and time.monotonic() - self._local.used <= IDLE_S:
            return session
        self.close()
        if self.security is SmtpSecurity.TLS:
            session = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self.context
            )
        else:
            session = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            if self.security is SmtpSecurity.STARTTLS:
                session.starttls(context=self.context)
        self._local.session = session
        if self.username is not None and self.password is not None:
            session.login(self.username, self.password)
        self._local.used = time.monotonic()
        return session

    def close(self) -> None:
        """Ends this thread's session, if any (QUIT where the server still listens)."""
        session: smtplib.SMTP | None = getattr(self._local, "session", None)
        self._local.session = None
        if session is None:
            return
        try:
            session.quit()
        except (smtplib.SMTPException, OSError):
            session.close()


def _refusal(exc: smtplib.SMTPException | OSError, *, sender: str, host: str) -> DeliveryError:
    """What the server's answer (or its silence) means for the delivery."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, said = next(iter(exc.recipients.values()), (550, b""))
        return _by_code(code, said, "recipient refused")
    if isinstance(exc, smtplib.SMTPSenderRefused) and not 400 <= exc.smtp_code < 500:
        return _pause(f"SMTP sender {sender} refused", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _pause("SMTP login refused", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):  # DATA refused, 421 at connect, …
        return _by_code(exc.smtp_code, exc.smtp_error, "refused")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        what = f"SMTP server {host}: {exc} Check SMTP_SECURITY and SMTP_PORT"
        return DeliveryError(what, permanent=False, pauses_sending=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = (
            f"SMTP server {host}'s certificate is not trusted ({exc.verify_message}):"
            " set SMTP_CA_FILE for a private CA"
        )
        return DeliveryError(what, permanent=False, pauses_sending=True)
    # Dropped, timed out, unreachable: the next try may find it back.
    return DeliveryError(f"SMTP server {host} unreachable: {exc}", permanent=False)


def _words(said: bytes | str) -> str:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
    return " ".join(text.split())[:200]


def _by_code(code: int, said: bytes | str, what: str) -> DeliveryError:
    """The server's reply as a DeliveryError: 5xx permanent (a 5.1.x a hard bounce), else
    transient."""
    raw = said.encode() if isinstance(said, str) else said
    detail = f"SMTP {what}: {code} {_words(said)}"
    if 500 <= code < 600:
        enhanced = _ENHANCED.match(raw)
        bounce = enhanced is not None and enhanced[2] == b"1"
        return DeliveryError(detail, permanent=True, bounce=bounce)
    return DeliveryError(detail, permanent=False)


def _pause(what: str, code: int, said: bytes | str) -> DeliveryError:
    return DeliveryError(f"{what}: {code} {_words(said)}", permanent=False, pauses_sending=True)
