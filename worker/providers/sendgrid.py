"""SendGrid's v3 Mail Send over a pool of kept-alive HTTPS connections, pointed at
SENDGRID_API_HOST for a local stand-in.

The official `sendgrid` client opens a new TCP and TLS connection for every request (urllib,
no keep-alive): 161 ms a request at a 50 ms round trip, where a kept-alive connection takes
67 ms (issue 17). urllib3's pool keeps one connection per worker thread open and is safe to
share between them; the body is the same v3 JSON the official client would send.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any

import redis
import urllib3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from worker.providers import DeliveryError, OutgoingEmail, keep_alive_pool
from worker.providers.ratelimit import RateLimiter, build_rate_limiter
from worker.settings import Settings

# SendGrid answers these when the request itself is wrong: sending it again cannot help.
PERMANENT_STATUSES = {400, 404, 413}
# Our API key is refused (revoked, or lacking the mail.send scope): every email would fail
# alike, so sending pauses rather than failing the whole queue.
PAUSING_STATUSES = {401, 403}
MAIL_SEND = "/v3/mail/send"


class SendGridProvider:
    idempotent = False
    concurrent = True  # safe from several threads at once: urllib3's pool
    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        host: str,
        timeout_s: float,
        sandbox_mode: bool = False,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.url = host.rstrip("/") + MAIL_SEND
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "ladder",
        }
        self.pool = keep_alive_pool(timeout_s)
        self.sandbox_mode = sandbox_mode
        self.rate_limiter = rate_limiter

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridProvider:
        if settings.sendgrid_api_key is None:
            raise ValueError("EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY")
        return cls(
            settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_api_host,
            timeout_s=settings.sendgrid_timeout_s,
            sandbox_mode=settings.sendgrid_sandbox_mode,
            rate_limiter=build_rate_limiter(
                cls.name, settings.sendgrid_requests_per_s, settings.shared_redis_url
            ),
        )

    def send(self, email: OutgoingEmail) -> str:
        """Returns SendGrid's X-Message-Id once it answered 202. Raises DeliveryError."""
        body = json.dumps(request_body(email, sandbox_mode=self.sandbox_mode)).encode()
        try:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            response = self.pool.request("POST", self.url, body=body, headers=self.headers)
        except redis.RedisError as exc:
            raise DeliveryError(f"rate limiter unreachable: {exc}", permanent=False) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise DeliveryError(f"SendGrid unreachable: {exc}", permanent=False) from exc
        if response.status >= 400:
            raise _error_from(response.status, response.reason, response.data, response.headers)
        return str(response.headers.get("X-Message-Id", ""))


def request_body(email: OutgoingEmail, *, sandbox_mode: bool = False) -> dict[str, Any]:
    """The v3 mail/send body: text/plain before text/html, as the API requires."""
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": email.to}]}],
        "from": {"email": email.sender, "name": email.sender_name},
        "subject": email.subject,
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
        "custom_args": email.custom_args,
    }
    if email.reply_to:
        body["reply_to"] = {"email": email.reply_to}
    if email.headers:
        body["headers"] = email.headers
    if email.categories:
        # SendGrid refuses repeated categories: a trigger named like its message is one.
        body["categories"] = list(dict.fromkeys(email.categories))
    if email.unsubscribe_group is not None:
        body["asm"] = {"group_id": email.unsubscribe_group}
    if sandbox_mode:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return body


def _error_from(
    status: int, reason: str | None, body: bytes, headers: Mapping[str, str]
) -> DeliveryError:
    try:
        detail = "; ".join(str(e.get("message", "")) for e in json.loads(body)["errors"])
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = str(reason)
    if status == 429:
        wait = _seconds_until_reset(headers.get("X-RateLimit-Reset"))
        return DeliveryError(f"SendGrid rate limit: {detail}", permanent=False, retry_after_s=wait)
    if status in PAUSING_STATUSES:
        return DeliveryError(f"SendGrid {status}: {detail}", permanent=False, pauses_sending=True)
    return DeliveryError(f"SendGrid {status}: {detail}", permanent=status in PERMANENT_STATUSES)


def _seconds_until_reset(reset: str | None) -> float:
    """SendGrid sends the epoch second at which the limit resets; at least a second from now."""
    try:
        return max(1.0, float(reset or 0) - time.time())
    except ValueError:
        return 1.0


def is_signed_event_body(public_key: str, *, signature: str, timestamp: str, body: bytes) -> bool:
    """True when `signature` (the X-Twilio-Email-Event-Webhook-Signature header) is SendGrid's
    ECDSA P-256/SHA-256 signature over the timestamp header followed by the raw body.

    `public_key` is the verification key from SendGrid's Mail Settings (base64 DER).
    """
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key, validate=True))
        decoded = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(decoded, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
