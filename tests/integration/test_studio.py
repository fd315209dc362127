"""The studio's preview page: off until someone has an account, behind the login, the email
as a customer sees it, and test sends only for editors and above, from the studio's own forms."""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

from models import Customer
from tests.support.factories import order_event
from tests.support.studio import add_person, log_in
from tests.support.web import TestClient
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT, Settings
from worker.studio.people import Role
from worker.web import create_app
from worker.web.forms import form_token

pytestmark = pytest.mark.commits  # the web app reads the accounts on its own connections

EDITOR = "marketing@shop.example"


def studio_settings(settings: Settings, templates: Path | None = None) -> Settings:
    return settings.model_copy(update={"templates_dir": templates or settings.templates_dir})


def test_the_studio_is_off_until_someone_has_an_account(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime.settings))
    assert client.get("/studio/preview", follow_redirects=False).status_code == 404
    assert client.get("/studio/preview/version").status_code == 404
    assert client.get("/studio/login").status_code == 404


def client_for(settings: Settings, role: Role = Role.EDITOR) -> TestClient:
    """A browser logged in to the studio as an account with `role`."""
    add_person(settings.database_url, EDITOR, role)
    client = TestClient(create_app(settings))
    assert log_in(client, EDITOR).status_code == 303
    return client


def test_the_page_shows_subject_preheader_both_widths_text_and_no_warnings(
    runtime: Runtime,
) -> None:
    client = client_for(studio_settings(runtime.settings))
    page = client.get(
        "/studio/preview", params={"message": "win_back", "segment": "champions", "locale": "de"}
    )
    assert page.status_code == 200
    assert '<strong id="subject">Ihre Lieblingsstücke warten auf Sie</strong>' in page.text
    assert "Nach 7 Bestellungen möchten wir wissen" in page.text
    assert '<code id="variant">win_back/champions.de.html.j2</code>' in page.text
    assert 'id="desktop" title="desktop" width="700"' in page.text
    assert 'id="mobile" title="mobile" width="375"' in page.text
    assert 'srcdoc="&lt;!doctype html&gt;' in page.text  # the email itself, escaped
    assert "Hallo Lena,\n" in page.text  # the text part
    assert "No warnings: this email may be sent." in page.text
    assert "<option selected>champions</option>" in page.text


def test_the_page_shows_a_real_customers_email(db: Session, runtime: Runtime) -> None:
    event = order_event(
        event_id="o-1", order_id="1", at=datetime(2026, 3, 1, tzinfo=UTC), email="olga@example.com",
        first_name="Ольга", locale="ru",
    )  # fmt: skip
    [event_id] = store_events(db, [event], now=event.occurred_at).stored
    process(
        db, event_id, now=event.occurred_at, scheduler=Scheduler(runtime.triggers, runtime.settings)
    )
    db.execute(update(Customer).values(segment="loyal"))
    db.commit()
    client = client_for(studio_settings(runtime.settings))
    page = client.get(
        "/studio/preview", params={"message": "upsell", "customer": "olga@example.com"}
    )
    assert '<code id="variant">upsell/loyal.ru.html.j2</code>' in page.text
    assert "Здравствуйте, Ольга!" in page.text
    assert "customer olga@example.com" in page.text


def test_the_page_shows_what_the_check_would_refuse(runtime: Runtime, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    path = templates / "win_back" / "default.de.html.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "{% block body %}", '{% block body %}<img src="https://x.example/a.png">'
        ),
        encoding="utf-8",
    )
    client = client_for(studio_settings(runtime.settings, templates))
    page = client.get("/studio/preview", params={"message": "win_back", "locale": "de"})
    assert "win_back/default.de.html.j2:5: image &#39;https://x.example/a.png&#39; has no alt" in (
        page.text
    )
    path.write_text(
        "{% extends 'layouts/base.html.j2' %}{% block subject %}{{ nope }}{% endblock %}"
    )
    page = client.get("/studio/preview", params={"message": "win_back", "locale": "de"})
    assert "win_back/default.de.html.j2:1: &#39;nope&#39; is undefined" in page.text


def test_the_version_changes_when_a_template_file_is_saved(
    runtime: Runtime, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    client = client_for(studio_settings(runtime.settings, templates))
    before = client.get("/studio/preview/version").text
    assert client.get("/studio/preview/version").text == before
    path = templates / "upsell" / "default.html.j2"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert client.get("/studio/preview/version").text != before


def form_of(page: str) -> dict[str, str]:
    """The send-test form's hidden fields, as the browser would post them."""
    form = page.split('id="send-test-form"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))


def outbox(settings: Settings) -> list[EmailMessage]:
    files = sorted(settings.outbox_dir.glob("*.eml")) if settings.outbox_dir.exists() else []
    return [
        message
        for path in files
        if isinstance(
            message := email.message_from_bytes(path.read_bytes(), policy=email.policy.default),
            EmailMessage,
        )
    ]


def test_the_page_sends_the_previewed_email_as_a_test(runtime: Runtime) -> None:
    settings = studio_settings(runtime.settings)
    client = client_for(settings)
    picked = {"message": "win_back", "segment": "champions", "locale": "de"}
    page = client.get("/studio/preview", params=picked)
    fields = form_of(page.text)
    assert fields["message"] == "win_back" and fields["locale"] == "de"

    sent = client.post("/studio/send-test", data={**fields, "to": "marketing@shop.example"})

    assert sent.status_code == 200, sent.text
    assert "A test was sent to marketing@shop.example (win_back/champions.de.html.j2, de)." in (
        sent.text
    )
    [message] = outbox(settings)
    assert message["To"] == "marketing@shop.example"
    assert message["Subject"] == "[test] Ihre Lieblingsstücke warten auf Sie"
    assert message["X-Ladder-Test"] == "win_back; champions; de"


@pytest.mark.parametrize(
    ("change", "headers"),
    [
        ({"token": ""}, {}),
        ({"token": "1700000000.forged"}, {}),
        ({}, {"Origin": "https://evil.example"}),
        ({}, {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["no token", "forged token", "another origin", "cross-site fetch"],
)
def test_a_send_test_without_the_pages_token_or_from_another_site_is_refused(
    runtime: Runtime, change: dict[str, str], headers: dict[str, str]
) -> None:
    """Another site's page may make the browser post to the studio (CSRF)."""
    settings = studio_settings(runtime.settings)
    client = client_for(settings)
    page = client.get("/studio/preview", params={"message": "win_back"})
    fields = {**form_of(page.text), "to": "victim@shop.example", **change}

    refused = client.post("/studio/send-test", data=fields, headers=headers)

    assert refused.status_code == 403
    assert "reload the studio page and try again" in refused.text
    assert outbox(settings) == []


def test_a_token_signed_for_another_user_or_long_ago_is_refused(runtime: Runtime) -> None:
    settings = studio_settings(runtime.settings)
    client = client_for(settings)
    fields = {"message": "win_back", "to": "me@shop.example"}
    now = datetime.now(UTC)
    for token in (
        form_token(settings.secret_key(), "someone-else", now),
        form_token(settings.secret_key(), EDITOR, now),  # an e-mail is no session
        form_token(settings.secret_key(), "someone-else", now - timedelta(hours=13)),
    ):
        refused = client.post("/studio/send-test", data={**fields, "token": token})
        assert refused.status_code == 403
    assert outbox(settings) == []


def test_a_send_test_to_something_that_is_no_address_says_so_and_sends_nothing(
    runtime: Runtime,
) -> None:
    settings = studio_settings(runtime.settings)
    client = client_for(settings)
    page = client.get("/studio/preview", params={"message": "win_back"})

    answer = client.post("/studio/send-test", data={**form_of(page.text), "to": "not-an-address"})

    assert answer.status_code == 422
    assert "&#39;not-an-address&#39; is not an e-mail address" in answer.text
    assert outbox(settings) == []
