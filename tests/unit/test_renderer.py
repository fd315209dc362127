"""Choosing the template variant for a person, and rendering subject, HTML and text."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from worker.rendering import inlining
from worker.rendering.links import tag_links
from worker.rendering.renderer import Renderer, RenderError
from worker.rendering.variants import (
    formatting_locale,
    locale_chain,
    variant_candidates,
    variant_locale,
)

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
    assert "<title>Tea &amp; cake for Bo &#34;B&#34; &lt;b&gt;</title>" in rendered.html


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


def test_a_dict_reads_as_jinja_reads_it_items_by_name_and_its_own_methods(
    tmp_path: Path,
) -> None:
    body = (
        "<p>{{ order.number }}: {% for key, value in order.items() %}{{ key }}={{ value }};"
        "{% endfor %} {{ order.get('missing', 'none') }} {{ order.keys }}</p>"
    )
    files = {"offer/default.html.j2": template("Hi", body)}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    order = {"number": "#1001", "keys": "a key named keys"}
    rendered = renderer.render("offer", segment=None, locale=None, context=context(order=order))
    assert "<p>#1001: number=#1001;keys=a key named keys; none &lt;built-in method keys" in (
        rendered.html
    )


def test_a_missing_key_of_a_dict_is_an_error_naming_it(tmp_path: Path) -> None:
    files = {"offer/default.html.j2": template("Hi", "<p>{{ order.number }}</p>")}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    with pytest.raises(RenderError, match=r"^offer/default\.html\.j2:\d+: .*'number'"):
        renderer.render("offer", segment=None, locale=None, context=context(order={}))


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


FULL_LAYOUT = """\
<!doctype html><html lang="{{ language }}"><head><title>{% block subject %}{% endblock %}</title>
</head><body>
<div class="pre"><!--preheader-->{% block preheader %}{% endblock %}<!--/preheader--></div>
<table class="box"><tr><td>{% block body %}{% endblock %}</td></tr></table>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a>
<a href="{{ preferences_url }}">Preferences</a></p>
</body></html>
"""
CSS = (
    ".box { width: 600px; } .lead { color: #5a3e2b; }"
    " @media (max-width: 600px) { .box { width: 100% !important; } }"
)


@pytest.fixture
def styled(tmp_path: Path) -> Renderer:
    files = {
        "layouts/base.html.j2": FULL_LAYOUT,
        "layouts/email.css": CSS,
        "offer/default.html.j2": (
            '{% extends "layouts/base.html.j2" %}'
            "{% block subject %}Hello {{ customer.first_name }}{% endblock %}"
            "{% block preheader %}Ten percent off, today only{% endblock %}"
            '{% block body %}<p class="lead">{{ greeting }},</p>'
            '<p><a href="https://shop.example/new#top">New in</a>'
            ' <a href="https://shop.example/sale?c=1">Sale</a></p>{% endblock %}'
        ),
    }
    return Renderer(make_templates(tmp_path, files), "en", auto_reload=True)


def personal(**extra: Any) -> dict[str, Any]:
    return context(
        preferences_url="https://shop.example/u/1.abc/preferences",
        **extra,
    )


def test_the_stylesheet_is_inlined_into_the_tags_and_media_rules_stay_for_phones(
    styled: Renderer,
) -> None:
    html = styled.render("offer", segment=None, locale="en", context=personal()).html
    assert '<p class="lead" style="color: #5a3e2b;">' in html
    assert 'style="width: 600px;"' in html
    assert "@media (max-width: 600px)" in html
    assert html.startswith("<!doctype html>")


def test_the_stylesheet_is_inlined_once_per_template_version_not_per_send(
    styled: Renderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = inlining.inline_source

    def counting(source: str, css: str) -> str:
        calls.append(source)
        return real(source, css)

    monkeypatch.setattr(inlining, "inline_source", counting)
    for _ in range(3):
        styled.render("offer", segment=None, locale="en", context=personal())
    assert len(calls) == 2  # the message and its layout, once each
    css = tmp_path / "layouts" / "email.css"
    css.write_text(CSS.replace("#5a3e2b", "#000000"), encoding="utf-8")
    os.utime(css, (css.stat().st_atime, css.stat().st_mtime + 5))
    html = styled.render("offer", segment=None, locale="en", context=personal()).html
    assert 'style="color: #000000;"' in html
    assert len(calls) == 4  # a changed stylesheet is a new version of every template


def test_the_preheader_is_read_from_its_block_and_left_out_of_the_text_part(
    styled: Renderer,
) -> None:
    rendered = styled.render("offer", segment=None, locale="en", context=personal())
    assert rendered.preheader == "Ten percent off, today only"
    assert "Ten percent" not in rendered.text
    assert rendered.subject == "Hello Ana"


def test_links_carry_utm_tags_for_the_trigger_but_unsubscribe_links_do_not(
    styled: Renderer,
) -> None:
    rendered = styled.render(
        "offer", segment=None, locale="en", context=personal(), campaign="win-back"
    )
    tags = "utm_source=ladder&amp;utm_medium=email&amp;utm_campaign=win-back"
    assert f'href="https://shop.example/new?{tags}#top"' in rendered.html
    assert f'href="https://shop.example/sale?c=1&amp;{tags}"' in rendered.html
    assert 'href="https://shop.example/unsubscribe/1.abc"' in rendered.html
    assert 'href="https://shop.example/u/1.abc/preferences"' in rendered.html
    assert "Sale (https://shop.example/sale?c=1&utm_source=ladder" in rendered.text


def test_without_a_trigger_the_campaign_is_the_message(styled: Renderer) -> None:
    rendered = styled.render("offer", segment=None, locale="en", context=personal())
    assert "utm_campaign=offer" in rendered.html


def test_a_link_with_its_own_utm_tags_keeps_them() -> None:
    html = '<a href="https://x.example/?utm_source=news">x</a>'
    assert tag_links(html, "win-back", ()) == html


def test_the_greeting_falls_back_gracefully_in_each_language(styled: Renderer) -> None:
    def greeting(first_name: str | None, locale: str) -> str:
        html = styled.render(
            "offer", segment=None, locale=locale, context=personal(first_name=first_name)
        ).html
        return html.split('<p class="lead" style="color: #5a3e2b;">')[1].split("</p>")[0]

    assert greeting("Ana", "en") == "Hi Ana,"
    assert greeting(None, "en") == "Hi there,"
    assert greeting("  ", "en") == "Hi there,"


def test_the_formatting_locale_is_the_customers_when_the_email_is_in_their_language() -> None:
    assert formatting_locale("es", "es_MX") == "es_MX"
    assert formatting_locale("es", "es-AR") == "es_AR"
    assert formatting_locale("en", "fr_FR") == "en"  # an English email formats the English way
    assert formatting_locale("de", None) == "de"


def test_variant_locale_reads_the_language_from_the_file_name() -> None:
    assert variant_locale("win_back/champions.de.html.j2", "en") == "de"
    assert variant_locale("win_back/champions.es_MX.html.j2", "en") == "es_MX"
    assert variant_locale("win_back/champions.html.j2", "en") == "en"


def test_an_undefined_name_in_a_layout_names_the_layout_and_its_line(tmp_path: Path) -> None:
    layout = (
        "<html><head><title>{% block subject %}{% endblock %}</title></head>\n"
        "<body>\n{{ shop.nmae }}</body></html>"
    )
    files = {"layouts/base.html.j2": layout, "offer/default.html.j2": template("Hi")}
    renderer = Renderer(make_templates(tmp_path, files), "en", inline_css=False)
    with pytest.raises(RenderError, match=r"^layouts/base\.html\.j2:3: .*nmae"):
        renderer.render("offer", segment=None, locale=None, context=context(shop={}))


def test_tags_written_in_capitals_still_make_paragraphs_in_the_text_part(tmp_path: Path) -> None:
    files = {"offer/default.html.j2": template("Hi", "<P>One</P><P>Two<BR>three</P>")}
    renderer = Renderer(make_templates(tmp_path, files), "en")
    rendered = renderer.render("offer", segment=None, locale=None, context=context())
    assert rendered.text.startswith("One\n\nTwo\nthree\n\n")
