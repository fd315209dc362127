"""The unsubscribe and preferences pages speak every language the shop's emails are written in."""

from __future__ import annotations

import re

import pytest

from worker.settings import PROJECT_ROOT
from worker.web.unsubscribe_texts import texts_for

# The languages of the shipped templates: `<message>/<segment>.<locale>.html.j2`.
LOCALES = sorted(
    {
        found[1]
        for path in (PROJECT_ROOT / "templates").glob("*/*.html.j2")
        if (found := re.fullmatch(r"[^.]+\.([a-z]{2})\.html\.j2", path.name))
    }
)


def shape(texts: object) -> object:
    """The keys of a texts dict, nested, without the words."""
    return {key: shape(value) for key, value in texts.items()} if isinstance(texts, dict) else None


def test_the_templates_are_written_in_several_languages() -> None:
    assert {"de", "es", "ru", "zh"} <= set(LOCALES)


@pytest.mark.parametrize("locale", LOCALES)
def test_each_email_language_has_its_own_unsubscribe_page(locale: str) -> None:
    lang, texts = texts_for(f"{locale}_XX")
    assert lang == locale
    assert shape(texts) == shape(texts_for("en")[1])
    assert texts["button"] != texts_for("en")[1]["button"]


def test_an_unknown_language_reads_english() -> None:
    assert texts_for("pt-BR")[0] == "en"
    assert texts_for(None)[0] == "en"
