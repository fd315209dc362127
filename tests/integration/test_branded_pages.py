"""The customers' pages in the shop's own layout: its name, its colours, its file to change, in
the customer's language, every value escaped."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from models import Customer
from tests.integration.test_surveys import score_link, sent_survey
from tests.support.web import TestClient
from worker.delivery.tokens import unsubscribe_token
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app reads the customer on its own connection
BROWN = "#5a3e2b"  # the shipped email.css's header and button colour


def customer_token(db: Session, runtime: Runtime, locale: str) -> str:
    customer = Customer(
        email="ana@example.com", accepts_marketing=True, locale=locale,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    db.add(customer)
    db.commit()
    return unsubscribe_token(runtime.settings.secret_key(), customer.id or 0, "marketing")


def test_the_unsubscribe_page_wears_the_shops_name_colours_and_the_customers_language(
    db: Session, runtime: Runtime
) -> None:
    token = customer_token(db, runtime, "de")
    settings = runtime.settings.model_copy(
        update={"shop_name": "Ladder Tea Co.", "shop_url": "https://tea.example"}
    )
    client = TestClient(create_app(settings))

    for path in (f"/u/{token}", f"/u/{token}/preferences"):
        page = client.get(path)
        assert page.status_code == 200
        assert '<html lang="de">' in page.text
        assert '<td class="header"><a href="https://tea.example">Ladder Tea Co.</a></td>' in (
            page.text
        )
        assert f"color: {BROWN}" in page.text  # email.css, the emails' own colours
        assert 'rel="stylesheet"' not in page.text  # nothing fetched from elsewhere
        assert "<script" not in page.text
    confirm = client.get(f"/u/{token}").text
    assert "<title>Abmelden · Ladder Tea Co.</title>" in confirm
    assert '<h1 class="title">Abmelden</h1>' in confirm
    assert "Keine Werbe-E-Mails mehr von Ladder Tea Co.?" in confirm
    done = client.post(f"/u/{token}")
    assert '<html lang="de">' in done.text
    assert "Ladder Tea Co." in done.text


def test_the_page_layout_is_the_shops_file_and_its_values_are_escaped(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    css = templates / "layouts" / "email.css"
    css.write_text(css.read_text(encoding="utf-8").replace(BROWN, "#0b6e4f"), encoding="utf-8")
    token = customer_token(db, runtime, "es")
    settings = runtime.settings.model_copy(
        update={"templates_dir": templates, "shop_name": "Tés <b>&</b> Cía"}
    )

    page = TestClient(create_app(settings)).get(f"/u/{token}")

    assert "color: #0b6e4f" in page.text
    assert ".header a { color: #0b6e4f; " in page.text
    assert '<html lang="es">' in page.text
    assert "Tés &lt;b&gt;&amp;&lt;/b&gt; Cía" in page.text
    assert "<b>&</b>" not in page.text


def test_the_survey_page_wears_the_shops_layout_in_the_customers_language(
    db: Session, runtime: Runtime
) -> None:
    _, message = sent_survey(db, runtime)
    link = score_link(message, 9)

    page = TestClient(create_app(runtime.settings)).get(link)

    assert '<html lang="de">' in page.text
    assert f'<a href="{runtime.settings.shop_url}">{runtime.settings.shop_name}</a>' in page.text
    assert f"color: {BROWN}" in page.text
    assert "Ihre Antwort: <b>9</b>" in page.text
