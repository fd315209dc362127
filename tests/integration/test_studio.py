"""The studio's preview page: off by default, behind a login, the email as a customer sees it."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import Session

from models import Customer
from tests.support.factories import order_event
from tests.support.web import TestClient
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT, Settings
from worker.web import create_app

LOGIN = ("marketing", "correct horse battery staple")


@pytest.fixture
def plain(tmp_path: Path) -> Settings:
    """Settings with nothing set, whatever the environment says; no database is read."""
    return Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'unused.db'}")


def studio_settings(settings: Settings, templates: Path | None = None) -> Settings:
    return settings.model_copy(
        update={
            "studio_user": LOGIN[0],
            "studio_password": SecretStr(LOGIN[1]),
            "templates_dir": templates or settings.templates_dir,
        }
    )


def test_the_studio_is_off_unless_a_login_is_configured(plain: Settings) -> None:
    client = TestClient(create_app(plain))
    assert plain.studio_user is None
    assert client.get("/studio/preview", auth=LOGIN).status_code == 404
    assert client.get("/studio/preview/version", auth=LOGIN).status_code == 404


@pytest.mark.parametrize("auth", [None, ("marketing", "wrong"), ("admin", LOGIN[1])])
def test_the_studio_asks_for_the_login(plain: Settings, auth: tuple[str, str] | None) -> None:
    client = TestClient(create_app(studio_settings(plain)))
    answer = client.get("/studio/preview", auth=auth)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="Ladder studio"'
    assert "Subject" not in answer.text


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def test_the_page_shows_subject_preheader_both_widths_text_and_no_warnings(
    plain: Settings,
) -> None:
    client = client_for(studio_settings(plain))
    page = client.get(
        "/studio/preview",
        params={"message": "win_back", "segment": "champions", "locale": "de"},
        auth=LOGIN,
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


@pytest.mark.commits  # the web app reads the customer on its own connection
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
        "/studio/preview",
        params={"message": "upsell", "customer": "olga@example.com"},
        auth=LOGIN,
    )
    assert '<code id="variant">upsell/loyal.ru.html.j2</code>' in page.text
    assert "Здравствуйте, Ольга!" in page.text
    assert "customer olga@example.com" in page.text


def test_the_page_shows_what_the_check_would_refuse(plain: Settings, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    path = templates / "win_back" / "default.de.html.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "{% block body %}", '{% block body %}<img src="https://x.example/a.png">'
        ),
        encoding="utf-8",
    )
    client = client_for(studio_settings(plain, templates))
    page = client.get("/studio/preview", params={"message": "win_back", "locale": "de"}, auth=LOGIN)
    assert "win_back/default.de.html.j2:5: image &#39;https://x.example/a.png&#39; has no alt" in (
        page.text
    )
    path.write_text(
        "{% extends 'layouts/base.html.j2' %}{% block subject %}{{ nope }}{% endblock %}"
    )
    page = client.get("/studio/preview", params={"message": "win_back", "locale": "de"}, auth=LOGIN)
    assert "win_back/default.de.html.j2:1: &#39;nope&#39; is undefined" in page.text


def test_the_version_changes_when_a_template_file_is_saved(plain: Settings, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    client = client_for(studio_settings(plain, templates))
    before = client.get("/studio/preview/version", auth=LOGIN).text
    assert client.get("/studio/preview/version", auth=LOGIN).text == before
    path = templates / "upsell" / "default.html.j2"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert client.get("/studio/preview/version", auth=LOGIN).text != before
