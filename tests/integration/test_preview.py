"""`ladder preview`: a message as a sample or a real customer would get it, into var/preview/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session
from typer.testing import CliRunner

from models import Customer
from tests.support.factories import order_event
from worker import settings as settings_module
from worker.cli import app
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def german_champion(db: Session, runtime: Runtime) -> None:
    event = order_event(
        event_id="ord-1", order_id="1", at=T0, email="lena@example.com", first_name="Lena",
        locale="de_DE", total="1234.50",
    )  # fmt: skip
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    db.execute(update(Customer).values(segment="champions"))
    db.commit()


@pytest.mark.commits  # `ladder preview` opens its own session
def test_preview_renders_for_a_real_customer_in_their_language_and_segment(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    german_champion(db, runtime)
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        app, ["preview", "win_back", "--customer", "Lena@Example.com", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Ihre Lieblingsstücke warten auf Sie" in result.output
    text = (out / "win_back.champions.de_DE.txt").read_text(encoding="utf-8")
    assert text.startswith("Subject: Ihre Lieblingsstücke warten auf Sie\nPreheader: Nach 1 ")
    assert "Hallo Lena," in text
    assert "(insgesamt 1.234,50\xa0€)" in text  # euros, the German way
    assert "vom 1. März 2026 stammt" in text
    html = (out / "win_back.champions.de_DE.html").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'lang="de"' in html
    # The links the customer will really get: sending's link builder and the trigger's name.
    assert "https://ladder.example/u/" in html or "/u/" in html
    assert "/unsubscribe/" not in html and "utm_campaign=win_back" not in html
    assert "utm_campaign=win-back" in html


@pytest.fixture
def no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings for commands that read no database: the CLI takes them from the environment."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("BROKER_URL", raising=False)
    settings_module.get_settings.cache_clear()
    yield
    settings_module.get_settings.cache_clear()


@pytest.mark.usefixtures("no_database")
def test_preview_renders_a_sample_customer_for_any_segment_and_language(tmp_path: Path) -> None:
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        app,
        ["preview", "upsell", "--segment", "loyal", "--locale", "ru", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    text = (out / "upsell.loyal.ru.txt").read_text(encoding="utf-8")
    assert "Subject: Небольшой подарок для постоянного покупателя" in text
    assert "Здравствуйте, Анна!" in text
    assert settings_module.get_settings().postal_address in text


@pytest.mark.usefixtures("runtime")  # this test's database, empty
def test_preview_for_an_unknown_customer_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["preview", "win_back", "--customer", "nobody@example.com", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no customer with the address 'nobody@example.com'" in result.output
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.usefixtures("no_database")
def test_preview_of_a_message_without_templates_names_the_file_to_add(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["preview", "name_day", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "add name_day/default.html.j2" in result.output


@pytest.mark.usefixtures("no_database")
def test_ladder_check_fails_naming_the_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    monkeypatch.setenv("TEMPLATES_DIR", str(templates))
    settings_module.get_settings.cache_clear()
    assert CliRunner().invoke(app, ["check"]).exit_code == 0

    broken = templates / "win_back" / "champions.de.html.j2"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("{{ greeting }}", "{{ greting }}"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    # On a line of its own, first: editors open file:line.
    assert (
        result.output.splitlines()[0] == "win_back/champions.de.html.j2:6: 'greting' is undefined"
    )


@pytest.mark.usefixtures("no_database")
@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [("--segment", "vip", "default, champions"), ("--locale", "xx_YY", "en, es, de, ru, zh")],
)
def test_preview_refuses_an_unknown_segment_or_locale_naming_the_choices(
    tmp_path: Path, option: str, value: str, choices: str
) -> None:
    result = CliRunner().invoke(app, ["preview", "win_back", option, value, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: unknown {option[2:]} {value!r}" in result.output
    assert choices in result.output
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.usefixtures("no_database")
def test_a_sample_preview_has_the_links_sending_builds(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["preview", "win_back", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html = next(tmp_path.glob("*.html")).read_text(encoding="utf-8")
    assert "/unsubscribe/" not in html and "/u/" in html
    assert "utm_campaign=win-back" in html and "utm_campaign=win_back" not in html
