"""Choosing the template variant for a person, and rendering subject, HTML and text."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from worker.rendering import Renderer, RenderError, locale_chain, variant_candidates

LAYOUT = """\
<html><head><title>{% block subject %}{% endblock %}</title></head>
<body>{% block body %}{% endblock %}
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>
"""


def template(subject: str, body: str = "<p>Hi {{ customer.first_name }}</p>") -> str:
    return (
        '{% extends "layouts/base.html.j2" %}\n'
        f"{{% block subject %}}{subject}{{% endblock %}}\n"
        f"{{% block body %}}{body}{{% endblock %}}\n"
    )


def make_templates(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"layouts/base.html.j2": LAYOUT, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def context(first_name: str = "Ana", **extra: Any) -> dict[str, Any]:
    return {
        "customer": {"first_name": first_name, "segment": "new"},
        "unsubscribe_url": "https://shop.example/unsubscribe/1.abc",
        **extra,
    }


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    files = {
        "win_back/default.html.j2": template("We miss you (default, en)"),
        "win_back/champions.html.j2": template("Champions (en)"),
        "win_back/default.es.html.j2": template("Te echamos de menos"),
        "win_back/champions.es_MX.html.j2": template("Campeones de México"),
    }
    return Renderer(make_templates(tmp_path, files), "en")


def test_locale_chain_goes_from_region_to_language_to_the_shop_default() -> None:
    assert locale_chain("es_MX", "en") == ["es_MX", "es", "en"]
    assert locale_chain("es-MX", "en") == ["es_MX", "es", "en"]
    assert locale_chain("en", "en") == ["en"]
    assert locale_chain(None, "en_GB") == ["en_GB", "en"]


def test_variant_candidates_try_the_language_before_the_segment() -> None:
    assert list(variant_candidates("win_back", "new", "es_MX", "en")) == [
        "win_back/new.es_MX.html.j2",
        "win_back/default.es_MX.html.j2",
        "win_back/new.es.html.j2",
        "win_back/default.es.html.j2",
        "win_back/new.en.html.j2",
        "win_back/new.html.j2",
        "win_back/default.en.html.j2",
        "win_back/default.html.j2",
    ]


def test_files_without_a_locale_are_in_the_shop_default_language_only() -> None:
    german_shop = list(variant_candidates("thank_you", None, "es", "de"))
    assert german_shop == [
        "thank_you/default.es.html.j2",
        "thank_you/default.de.html.j2",
        "thank_you/default.html.j2",
    ]


@pytest.mark.parametrize(
    ("segment", "locale", "variant"),
    [
        ("champions", "es_MX", "win_back/champions.es_MX.html.j2"),
        ("champions", "es", "win_back/default.es.html.j2"),
        ("champions", "es_AR", "win_back/default.es.html.j2"),
        ("champions", "en", "win_back/champions.html.j2"),
        ("champions", "fr", "win_back/champions.html.j2"),
        ("lost", "fr", "win_back/default.html.j2"),
        (None, None, "win_back/default.html.j2"),
    ],
)
def test_render_picks_the_file_for_the_segment_and_language(
    renderer: Renderer, segment: str | None, locale: str | None, variant: str
) -> None:
    rendered = renderer.render("win_back", segment=segment, locale=locale, context=context())
    assert rendered.variant == variant


def test_render_fills_subject_html_and_text(renderer: Renderer) -> None:
    rendered = renderer.render("win_back", segment="lost", locale="en", context=context())
    assert rendered.subject == "We miss you (default, en)"
    assert "<p>Hi Ana</p>" in rendered.html
    assert "Hi Ana" in rendered.text
    assert "Unsubscribe (https://shop.example/unsubscribe/1.abc)" in rendered.text
    assert "We miss you" not in rendered.text  # the <title> is not body text


def test_the_subject_is_plain_text_not_escaped_html(tmp_path: Path) -> None:
    files = {"offer/default.html.j2": template("Tea & cake for {{ customer.first_name }}")}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    rendered = renderer.render(
        "offer", segment=None, locale=None, context=context(first_name='Bo "B" <b>')
    )
    assert rendered.subject == 'Tea & cake for Bo "B" <b>'
    assert "<title>Tea & cake for Bo &#34;B&#34; &lt;b&gt;</title>" in rendered.html


def test_customer_data_is_escaped_in_the_html(renderer: Renderer) -> None:
    rendered = renderer.render(
        "win_back",
        segment=None,
        locale=None,
        context=context(first_name="<script>alert(1)</script>"),
    )
    assert "<script>" not in rendered.html
    assert "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>" in rendered.html
    assert "Hi <script>alert(1)</script>" in rendered.text


def test_a_template_can_scale_money_by_a_float(tmp_path: Path) -> None:
    files = {
        "offer/default.html.j2": template(
            "Your offer", "<p>Now {{ order.total * 0.9 }} instead of {{ order.total }}</p>"
        )
    }
    renderer = Renderer(make_templates(tmp_path, files), "en")
    rendered = renderer.render(
        "offer", segment=None, locale=None, context=context(order={"total": Decimal("50.00")})
    )
    assert "<p>Now 45.000 instead of 50.00</p>" in rendered.html


def test_a_typo_in_a_variable_is_an_error_naming_the_template(tmp_path: Path) -> None:
    files = {"offer/default.html.j2": template("Hi", "<p>Hi {{ customer.frist_name }}</p>")}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    with pytest.raises(RenderError, match=r"^offer/default\.html\.j2.*frist_name"):
        renderer.render("offer", segment=None, locale=None, context=context())


def test_a_template_without_a_subject_block_is_an_error(tmp_path: Path) -> None:
    body_only = '{% extends "layouts/base.html.j2" %}{% block body %}<p>Hi</p>{% endblock %}'
    renderer = Renderer(make_templates(tmp_path, {"offer/default.html.j2": body_only}), "en")
    with pytest.raises(
        RenderError, match=r"offer/default\.html\.j2:1: declares no \{% block subject"
    ):
        renderer.render("offer", segment=None, locale=None, context=context())


def test_an_empty_subject_is_an_error(tmp_path: Path) -> None:
    files = {"offer/default.html.j2": template("{{ customer.first_name }}")}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    with pytest.raises(RenderError, match="renders an empty subject"):
        renderer.render("offer", segment=None, locale=None, context=context(first_name=" "))


def test_a_message_without_templates_is_an_error_saying_which_file_to_add(
    renderer: Renderer,
) -> None:
    with pytest.raises(RenderError, match=r"no template for message 'upsell': add upsell/default"):
        renderer.render("upsell", segment="new", locale="en", context=context())


def test_a_syntax_error_names_the_template_and_line(tmp_path: Path) -> None:
    files = {"offer/default.html.j2": template("Hi", "<p>\n{% if customer %}</p>")}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    with pytest.raises(RenderError, match=r"^offer/default\.html\.j2:\d+: "):
        renderer.render("offer", segment=None, locale=None, context=context())


def test_messages_lists_the_message_folders_but_not_layouts(renderer: Renderer) -> None:
    assert renderer.messages() == ["win_back"]
