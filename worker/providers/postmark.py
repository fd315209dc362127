"""Postmark's Email API (`POST /email`) over a pool of kept-alive HTTPS connections, pointed at
POSTMARK_API_HOST for a local stand-in.

Like the SendGrid provider: urllib3's pool keeps one connection per worker thread open and is
safe to share between them. Marketing goes out on the Broadcast message stream, the rest on
the Transactional one (Postmark refuses bulk mail on a transactional stream); our delivery id
rides in `Metadata`, which Postmark hands back in every webhook. What Postmark answers
(https://postmarkapp.com/developer/api/overview, "API error codes") decides the delivery:

- 200: sent; the provider's message id is Postmark's `MessageID`.
- 401, or ErrorCode 10: the server token is refused; 400/401 (sender signature missing or not
  confirmed), 405 (not allowed to send), 412/413 (account pending, may not send): every email
  would fail alike, so sending pauses.
- 429: the rate limit; retried after Retry-After (or `RATE_LIMIT_WAIT_S`), counting no failure.
- ErrorCode 100 (maintenance), 5xx, a dropped connection, a timeout: transient.
- any other 4xx or ErrorCode (300 an invalid request, 406 an inactive recipient…): permanent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import formataddr
from typing import Any

import redis
import urllib3

from worker.providers import DeliveryError, OutgoingEmail, keep_alive_pool
from worker.providers.ratelimit import RateLimiter, build_rate_limiter
from worker.settings import Settings

EMAIL = "/email"
TOKEN_HEADER = "X-Postmark-Server-Token"
# Postmark documents no reset time for its rate limit: wait this long unless Retry-After says.
RATE_LIMIT_WAIT_S = 10.0
# ErrorCodes that say our token, sender or account is refused, whatever the email.
PAUSING_CODES = {10, 400, 401, 405, 412, 413}
TRANSIENT_CODES = {100}  # maintenance
RATE_LIMIT_CODE = 429
# What Postmark keeps of Metadata: 10 fields, names of 20 characters, values of 80.
METADATA_FIELDS, METADATA_NAME, METADATA_VALUE = 10, 20, 80


class PostmarkProvider:
    idempotent = False  # the Email API has no idempotency key
    concurrent = True  # safe from several threads at once: urllib3's pool
    name = "postmark"

    def __init__(
        self,
        server_token: str,
        *,
        host: str,
        timeout_s: float,
        streams: Mapping[str, str],
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.url = host.rstrip("/") + EMAIL
        self.headers = {
            TOKEN_HEADER: server_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "ladder",
        }
        self.pool = keep_alive_pool(timeout_s)
        self.streams = dict(streams)
        self.rate_limiter = rate_limiter

    @classmethod
    def from_settings(cls, settings: Settings) -> PostmarkProvider:
        if settings.postmark_server_token is None:
            raise ValueError("EMAIL_BACKEND=postmark needs POSTMARK_SERVER_TOKEN")
        return cls(
            settings.postmark_server_token.get_secret_value(),
            host=settings.postmark_api_host,
            timeout_s=settings.postmark_timeout_s,
            streams={
                "marketing": settings.postmark_stream("marketing"),
                "transactional": settings.postmark_stream("transactional"),
            },
            rate_limiter=build_rate_limiter(
                cls.name, settings.postmark_requests_per_s, settings.redis_url
            ),
        )

    def send(self, email: OutgoingEmail) -> str:
        """Returns Postmark's MessageID once it answered 200. Raises DeliveryError."""
        stream = self.streams.get(email.message_class, self.streams["transactional"])
        body = json.dumps(request_body(email, stream=stream)).encode()
        try:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            response = self.pool.request("POST", self.url, body=body, headers=self.headers)
        except redis.RedisError as exc:
            raise DeliveryError(f"rate limiter unreachable: {exc}", permanent=False) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise DeliveryError(f"Postmark unreachable: {exc}", permanent=False) from exc
        code, message, answer = _answer(response.data, response.reason)
        if response.status != 200 or code != 0:
            raise _error_from(response.status, code, message, response.headers)
        return str(answer.get("MessageID", ""))


def request_body(email: OutgoingEmail, *, stream: str) -> dict[str, Any]:
    """The Email API's body: both parts, our headers, our ids in Metadata, the stream."""
    body: dict[str, Any] = {
        "From": formataddr((email.sender_name, email.sender)),
        "To": email.to,
        "Subject": email.subject,
        "TextBody": email.text,
        "HtmlBody": email.html,
        "MessageStream": stream,
        "Metadata": metadata(email.custom_args),
    }
    if email.categories:
        body["Tag"] = email.categories[0]  # one tag a message: the trigger
    if email.reply_to:
        body["ReplyTo"] = email.reply_to
    if email.headers:
        body["Headers"] = [{"Name": name, "Value": value} for name, value in email.headers.items()]
    return body


def metadata(custom_args: Mapping[str, str]) -> dict[str, str]:
    """Our custom arguments within Postmark's Metadata limits (longer values are cut)."""
    fields = list(custom_args.items())[:METADATA_FIELDS]
    return {name[:METADATA_NAME]: value[:METADATA_VALUE] for name, value in fields}


def _answer(data: bytes, reason: str | None) -> tuple[int | None, str, dict[str, Any]]:
    """Postmark's ErrorCode, Message and the whole answer; None for an answer not its JSON."""
    try:
        answer = json.loads(data)
    except ValueError:
        return None, str(reason), {}
    if not isinstance(answer, dict):
        return None, str(reason), {}
    code = answer.get("ErrorCode")
    return (code if isinstance(code, int) else None), str(answer.get("Message", reason)), answer


def _error_from(
    status: int, code: int | None, message: str, headers: Mapping[str, str]
) -> DeliveryError:
    detail = f"Postmark {status}" + (f" (ErrorCode {code})" if code is not None else "")
    detail += f": {message}"
    if status == 429 or code == RATE_LIMIT_CODE:
        wait = _retry_after(headers.get("Retry-After"))
        return DeliveryError(detail, permanent=False, retry_after_s=wait)
    if status == 401 or code in PAUSING_CODES:
        return DeliveryError(detail, permanent=False, pauses_sending=True)
    if status >= 500 or code in TRANSIENT_CODES:
        return DeliveryError(detail, permanent=False)
    if status == 200:  # an answer that is not Postmark's: nothing says the email left
        return DeliveryError(detail, permanent=False)
    return DeliveryError(detail, permanent=True)


def _retry_after(value: str | None) -> float:
    try:
        return max(1.0, float(value)) if value else RATE_LIMIT_WAIT_S
    except ValueError:
        return RATE_LIMIT_WAIT_S
