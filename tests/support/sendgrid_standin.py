"""A local HTTP server standing in for SendGrid's Mail Send API: it checks every body against
SendGrid's own OpenAPI schema and answers as it is told (202, 429, 500, 400, or not at all)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "sendgrid" / "tsg_mail_v3.json"
API_KEY = "SG.test-key.not-real"


@dataclass
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hold: bool = False  # answer only once the test releases it (to make the client time out)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int = 0  # what the stand-in answered
    peer: tuple[str, int] = ("", 0)  # the client's address and port: one per connection

    def json(self) -> Any:
        return json.loads(self.body)


@cache
def mail_send_validator() -> Draft202012Validator:
    """PostMailSend's body schema, its `$ref`s resolved within the spec. Relaxed in one place,
    the spec's known quirk (tests/fixtures/sendgrid/README.md): the message-level
    `custom_args` is an object of strings, not a string."""
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    body = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    schema = body["schema"]
    schema["properties"]["custom_args"] = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "string"},
    }
    return Draft202012Validator({**schema, "components": spec["components"]})


def body_problems(body: Any) -> list[str]:
    """What in `body` breaks the schema, as "<path>: <message>" lines; [] when valid."""
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or 'body'}: {error.message}"
        for error in mail_send_validator().iter_errors(body)
    )


def error_body(*messages: str) -> bytes:
    """SendGrid's error answer: {"errors": [{"message", "field", "help"}]}."""
    return json.dumps(
        {"errors": [{"message": m, "field": None, "help": None} for m in messages]}
    ).encode()


_MESSAGE_IDS = itertools.count(1)


def accepted() -> Reply:
    """202 with a new X-Message-Id, as SendGrid answers a good request."""
    return Reply(202, {"X-Message-Id": f"sg-{next(_MESSAGE_IDS):08d}"})


def rate_limited(reset_in_s: int = 0) -> Reply:
    return Reply(
        429,
        {
            "X-RateLimit-Limit": "600",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + reset_in_s),
        },
        error_body("too many requests"),
    )


class SendGridStandIn:
    """Records each request and answers with `answer(request)`: by default 202 with a fresh
    X-Message-Id. A body the schema refuses is answered 400 and kept in `invalid`."""

    def __init__(self, *, validate: bool = True) -> None:
        self.validate = validate
        self.requests: list[Received] = []
        self.invalid: list[tuple[Received, list[str]]] = []
        self.answer: Callable[[Received], Reply] = lambda _request: accepted()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def always(self, reply: Reply) -> None:
        self.answer = lambda _request: reply

    def reply_to(self, request: Received) -> Reply:
        if not self.validate:
            return self.answer(request)
        try:
            problems = body_problems(request.json())
        except ValueError:
            problems = ["body: not JSON"]
        if problems:
            with self.lock:
                self.invalid.append((request, problems))
            return Reply(400, {}, error_body(*problems))
        return self.answer(request)

    def accepted_delivery_ids(self) -> list[str]:
        """The `delivery_id` of every request answered 202, one entry per 202."""
        with self.lock:
            return [
                r.json()["custom_args"]["delivery_id"] for r in self.requests if r.status == 202
            ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Received("POST", self.path, headers, body, peer=self.client_address)
                reply = standin.reply_to(request)
                request.status = reply.status
                with standin.lock:
                    standin.requests.append(request)
                if reply.hold:
                    standin.release.wait(timeout=30)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is what the timeout test wants

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        return Handler


@contextmanager
def running_standin(*, validate: bool = True) -> Iterator[SendGridStandIn]:
    standin = SendGridStandIn(validate=validate)
    standin.thread.start()
    try:
        yield standin
    finally:
        standin.release.set()
        standin.server.shutdown()
        standin.server.server_close()
        standin.thread.join(timeout=10)
