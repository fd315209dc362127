"""A local HTTP server standing in for Postmark's Email API: it checks each request as Postmark
documents it (https://postmarkapp.com/developer/api/email-api, .../api/overview) and answers as
it is told (200, 401, 422 with an ErrorCode, 429, 500, or not at all).

The server itself is the SendGrid stand-in's (one thread a connection, requests recorded);
only what it checks and answers is Postmark's.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.sendgrid_standin import Received, Reply, SendGridStandIn

SERVER_TOKEN = "postmark-server-token-not-real"
# The Email API's fields (a single email), with the type each must have.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "From": str,
    "To": str,
    "Cc": str,
    "Bcc": str,
    "Subject": str,
    "Tag": str,
    "HtmlBody": str,
    "TextBody": str,
    "ReplyTo": str,
    "Metadata": dict,
    "Headers": list,
    "TrackOpens": bool,
    "TrackLinks": str,
    "Attachments": list,
    "MessageStream": str,
}
REQUIRED = ("From", "To", "Subject", "MessageStream")  # the stream: Ladder always names it


def answer(code: int, message: str, status: int = 422) -> Reply:
    """Postmark's error answer: {"ErrorCode": …, "Message": …}."""
    body = json.dumps({"ErrorCode": code, "Message": message}).encode()
    return Reply(status, {"Content-Type": "application/json"}, body)


_SENT = itertools.count(1)


def accepted(to: str = "", message_id: str | None = None) -> Reply:
    """200 with a new MessageID (or `message_id`), as Postmark answers a good request."""
    body = {
        "To": to,
        "SubmittedAt": "2026-05-01T12:00:00.0000000Z",
        "MessageID": message_id or str(uuid.UUID(int=next(_SENT))),
        "ErrorCode": 0,
        "Message": "OK",
    }
    return Reply(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


def body_problems(body: Any) -> list[str]:
    """What in `body` Postmark would refuse, as "<field>: <why>" lines; [] when valid."""
    if not isinstance(body, dict):
        return ["body: not a JSON object"]
    found = [f"{name}: required" for name in REQUIRED if not body.get(name)]
    for name, value in body.items():
        expected = FIELDS.get(name)
        if expected is None:
            found.append(f"{name}: not a field of the Email API")
        elif not isinstance(value, expected):
            found.append(f"{name}: must be {getattr(expected, '__name__', expected)}")
    if not (body.get("HtmlBody") or body.get("TextBody")):
        found.append("body: provide either TextBody or HtmlBody or both")
    found += _header_problems(body.get("Headers", []))
    found += _metadata_problems(body.get("Metadata", {}))
    if len(str(body.get("Tag", ""))) > 1000:
        found.append("Tag: at most 1000 characters")
    return sorted(found)


def _header_problems(headers: Any) -> list[str]:
    if not isinstance(headers, list):
        return []
    return [
        f"Headers.{index}: must be {{Name, Value}}"
        for index, header in enumerate(headers)
        if not (isinstance(header, dict) and set(header) == {"Name", "Value"})
    ]


def _metadata_problems(metadata: Any) -> list[str]:
    """Postmark's Metadata limits: 10 fields, names up to 20 characters, text values up to 80."""
    if not isinstance(metadata, dict):
        return []
    found = ["Metadata: at most 10 fields"] if len(metadata) > 10 else []
    for name, value in metadata.items():
        if len(name) > 20:
            found.append(f"Metadata.{name}: names are at most 20 characters")
        if not isinstance(value, str) or len(value) > 80:
            found.append(f"Metadata.{name}: values are text of at most 80 characters")
    return found


class PostmarkStandIn(SendGridStandIn):
    """Records each request; refuses a wrong path or token (401, ErrorCode 10) and a body
    Postmark would refuse (422, ErrorCode 300, kept in `invalid`); else `answer(request)`."""

    def __init__(self) -> None:
        super().__init__(validate=True)
        self.answer = lambda request: accepted(str(request.json().get("To", "")))

    def reply_to(self, request: Received) -> Reply:
        if request.path != "/email":
            return Reply(404, {}, b"")
        if request.headers.get("x-postmark-server-token") != SERVER_TOKEN:
            return answer(10, "Request does not contain a valid Server token.", status=401)
        if request.headers.get("accept") != "application/json":
            return answer(409, "JSON request required (Accept: application/json).")
        try:
            problems = body_problems(request.json())
        except ValueError:
            problems = ["body: not JSON"]
        if problems:
            with self.lock:
                self.invalid.append((request, problems))
            return answer(300, "Invalid email request: " + "; ".join(problems))
        return self.answer(request)

    def accepted_delivery_ids(self) -> list[str]:
        """The `delivery_id` metadata of every request answered 200, one entry per 200."""
        with self.lock:
            return [r.json()["Metadata"]["delivery_id"] for r in self.requests if r.status == 200]


@contextmanager
def running_postmark() -> Iterator[PostmarkStandIn]:
    standin = PostmarkStandIn()
    standin.thread.start()
    try:
        yield standin
    finally:
        standin.release.set()
        standin.server.shutdown()
        standin.server.server_close()
        standin.thread.join(timeout=10)
