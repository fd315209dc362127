"""Email providers: the Provider protocol, the email they send, and DeliveryError."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from worker.providers.mime import message_bytes


class DeliveryError(Exception):
    """The provider did not take the email. Permanent: never retry; otherwise retry later.

    `retry_after_s`: rate-limited, try again after this long (not counted as a failure).
    `pauses_sending`: the provider refuses our credentials, so every email would fail alike:
    stop sending instead of failing them one by one.
    `bounce`: permanent because the address does not exist (an SMTP 5.1.x): it is suppressed,
    as a bounce the provider reports later would be.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after_s: float | None = None,
        pauses_sending: bool = False,
        bounce: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.bounce = bounce
        self.retry_after_s = retry_after_s
        self.pauses_sending = pauses_sending


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: int
    to: str
    sender: str
    sender_name: str
    subject: str
    html: str
    text: str
    created_at: datetime
    key: str  # `delivery_key`: this delivery's name, the same on every try
    headers: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    unsubscribe_group: int | None = None  # the provider's group for this message class
    # "marketing" or "transactional": a provider with streams per class (Postmark) picks by it.
    message_class: str = "transactional"

    def to_bytes(self, linesep: str = "\n") -> bytes:
        """The RFC 5322 message: text/plain first, then text/html (multipart/alternative)."""
        return message_bytes(self, linesep)


def delivery_key(delivery_id: int, created_at: datetime) -> str:
    """A name for one delivery, the same on every try and different in every database.

    The id alone repeats in each new database: after `make demo`, a `ladder run` on a fresh
    one found the demo's `000000005.eml` and took its own delivery 5 as sent. A digest of the
    moment its row was created rides along, which no other database's delivery 5 shares.
    """
    aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    moment = aware.astimezone(UTC).isoformat()
    digest = hashlib.blake2b(f"{delivery_id}|{moment}".encode(), digest_size=5).hexdigest()
    return f"{delivery_id:09d}-{digest}"


class Provider(Protocol):
    """Sends one email; returns the provider's message id. Raises DeliveryError."""

    # True when sending the same delivery twice yields one email (the file backend writes one
    # file per delivery id): a delivery stuck in `sending` may then be sent again safely.
    idempotent: bool
    # Optional `concurrent: bool`: True when `send` may run in several threads at once and
    # waits on a network (`delivery/inflight.py` keeps its requests in flight together).

    def send(self, email: OutgoingEmail) -> str: ...


# Connections an HTTP provider keeps open: one per request thread is enough (more threads than
# this still send, on connections closed after use).
POOL_CONNECTIONS = 64


def keep_alive_pool(timeout_s: float) -> Any:
    """The pooled, kept-alive HTTP client an HTTP provider sends with. Only a connection that
    could not be made is tried again at once: a request that reached the provider may have
    been sent, and sending it twice would send the email twice."""
    import urllib3  # only for the HTTP providers
    from urllib3.util import Retry, Timeout

    return urllib3.PoolManager(
        maxsize=POOL_CONNECTIONS,
        timeout=Timeout(connect=timeout_s, read=timeout_s),
        retries=Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0),
    )
