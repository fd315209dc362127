"""`ladder send-test` and the README's first event: what a newcomer types, what they can open."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from models import Delivery
from tests.support.brokers import drain
from tests.support.sendgrid_standin import API_KEY, running_standin
from tests.support.web import TestClient
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.cli import app
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT
from worker.web import create_app

# The README's example, as the shell sends it: its date substitution run here.
README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
DATE_SUBSTITUTION = "'\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"'"


def readme_event(now: datetime) -> dict[str, object]:
    section = README.split("## Sending an event", 1)[1]
    body = re.search(r"-d '\n(.*?)'\n```", section, re.DOTALL)
    assert body is not None, "the README's curl example has changed shape"
    assert DATE_SUBSTITUTION in body.group(1), "the example must be dated now"
    text = body.group(1).replace(DATE_SUBSTITUTION, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    document: dict[str, object] = json.loads(text)
    return document


def eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.commits  # the web app and the CLI open their own sessions
def test_the_readme_example_schedules_a_thank_you_explain_shows_and_send_test_writes(
    db: Session, runtime: Runtime, stub_broker: object
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = runtime.settings.ladder_api_token
    assert token is not None
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    with TestClient(create_app(runtime.settings), headers=headers) as client:
        answer = client.post("/events", json=readme_event(now))
    assert answer.status_code == 202, answer.text
    drain(stub_broker)  # type: ignore[arg-type]

    [thank_you] = db.exec(select(Delivery).where(Delivery.trigger == "thank-you")).all()
    assert (thank_you.status, thank_you.send_at) == ("scheduled", now + timedelta(hours=2))
    db.commit()  # the read ends: the commands below open their own sessions
    explained = CliRunner().invoke(app, ["explain", "ana@example.com"])
    assert explained.exit_code == 0, explained.output
    flat = re.sub(r"[\s│┃]+", " ", explained.output)  # cells folded across lines, read on
    assert "thank-you: matched" in flat, explained.output  # the timeline
    # The delivery, with the variant of the thank-you's A/B test it carries.
    assert f"thank-you ({thank_you.ab_variant}) scheduled" in flat, explained.output

    runner = CliRunner()
    sent = runner.invoke(
        app, ["send-test", "thank_you", "--to", "me@example.org", "--customer", "ana@example.com"]
    )
    assert sent.exit_code == 0, sent.output
    [path] = sorted(Path(runtime.settings.outbox_dir).glob("test-*.eml"))
    assert str(path.name) in sent.output.replace("\n", "")
    message = eml(path)
    assert message["To"] == "me@example.org"
    assert message["Subject"].startswith("[test] ")
    assert "Ana" in message["Subject"]  # rendered for her, in her language
    assert message["X-Ladder-Test"] == "thank_you; default; es"  # not segmented yet
    db.expire_all()
    assert len(db.exec(select(Delivery)).all()) == len(list(db.exec(select(Delivery.id))))
    assert db.get_one(Delivery, thank_you.id).status == "scheduled"  # the real one waits


def test_send_test_of_a_sample_goes_through_sendgrid_marked_as_a_test(
    runtime: Runtime,  # noqa: ARG001  (this test's settings, changed below)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current_time.freeze(datetime(2026, 5, 1, 10, tzinfo=UTC))
    with running_standin() as standin:
        monkeypatch.setenv("EMAIL_BACKEND", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
        monkeypatch.setenv("SENDGRID_API_HOST", standin.url)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        settings_module.get_settings.cache_clear()
        runtime_module.get_runtime.cache_clear()
        result = CliRunner().invoke(
            app, ["send-test", "win_back", "--to", "me@example.org", "--locale", "de"]
        )
        assert result.exit_code == 0, result.output
        [request] = standin.requests
    body = request.json()
    assert request.status == 202, standin.invalid  # SendGrid's own schema holds
    assert body["personalizations"][0]["to"] == [{"email": "me@example.org"}]
    assert body["subject"].startswith("[test] ")
    assert body["categories"] == ["test", "win_back"]
    assert body["custom_args"] == {"test": "win_back"}
    assert "sg-" in result.output  # SendGrid's message id, said back


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--to", "not-an-address"], "'not-an-address' is not an e-mail address"),
        (["--to", "me@example.org", "--customer", "nobody@example.org"], "no customer"),
    ],
)
def test_send_test_refuses_what_it_cannot_send_saying_why(
    runtime: Runtime, arguments: list[str], problem: str
) -> None:
    result = CliRunner().invoke(app, ["send-test", "thank_you", *arguments])
    assert result.exit_code == 1
    assert problem in result.output
    assert not list(Path(runtime.settings.outbox_dir).glob("*.eml"))
