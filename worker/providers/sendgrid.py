"""SendGrid through the official client, pointed at SENDGRID_API_HOST for a local stand-in."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from worker.providers import DeliveryError, OutgoingEmail
from worker.settings import Settings

# SendGrid answers these when the request itself is wrong: sending it again cannot help.
PERMANENT_STATUSES = {400, 401, 403, 404, 413}


class SendGridProvider:
    idempotent = False

    def __init__(self, api_key: str, *, host: str, timeout_s: float) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.client.client.timeout = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridProvider:
        if settings.sendgrid_api_key is None:
            raise ValueError("EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY")
        return cls(
            settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_api_host,
            timeout_s=settings.sendgrid_timeout_s,
        )

    def send(self, email: OutgoingEmail) -> str:
        try:
            response = self.client.send(request_body(email))
        except HTTPError as exc:
            raise _error_from(exc) from exc
        except (URLError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"SendGrid unreachable: {exc}", permanent=False) from exc
        headers = {key.lower(): value for key, value in response.headers.items()}
        return str(headers.get("x-message-id", ""))


def request_body(email: OutgoingEmail) -> dict[str, Any]:
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
    if email.headers:
        body["headers"] = email.headers
    if email.categories:
        body["categories"] = list(email.categories)
    return body


def _error_from(exc: HTTPError) -> DeliveryError:
    status = int(exc.status_code)
    try:
        detail = "; ".join(str(e.get("message", "")) for e in json.loads(exc.body)["errors"])
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = str(exc.reason)
    if status == 429:
        reset = (exc.headers or {}).get("X-RateLimit-Reset")
        # SendGrid sends the epoch second at which the limit resets.
        wait = max(1.0, float(reset) - time.time()) if reset else None
        return DeliveryError(f"SendGrid rate limit: {detail}", permanent=False, retry_after_s=wait)
    return DeliveryError(f"SendGrid {status}: {detail}", permanent=status in PERMANENT_STATUSES)
