"""Inlining the email stylesheet into template sources without disturbing the Jinja in them."""

from __future__ import annotations

from worker.rendering.inlining import inline_source

CSS = (
    ".lead { color: red; } td { padding: 4px; }"
    " @media (max-width: 600px) { .lead { color: blue; } }"
)


def test_styles_land_on_the_tags_and_jinja_tags_survive_untouched() -> None:
    source = (
        '{% extends "layouts/base.html.j2" %}'
        '{% block body %}<p class="lead">{{ greeting }},</p>{% endblock %}'
    )
    assert inline_source(source, CSS) == (
        '{% extends "layouts/base.html.j2" %}{% block body %}'
        '<p class="lead" style="color: red;">{{ greeting }},</p>{% endblock %}'
    )


def test_a_loop_between_table_rows_stays_inside_the_table() -> None:
    source = (
        "<table><tbody>\n{% for line in order.lines %}\n<tr><td>{{ line.title }}</td></tr>\n"
        "{% endfor %}\n</tbody></table>"
    )
    inlined = inline_source(source, CSS)
    assert inlined == source.replace("<td>", '<td style="padding: 4px;">')


def test_expressions_inside_attributes_and_the_title_are_kept() -> None:
    source = (
        "<!doctype html><html><head><title>{% block subject %}{% endblock %}</title></head>"
        '<body><a class="lead" href="{{ shop.url }}">{{ shop.name }}</a></body></html>'
    )
    inlined = inline_source(source, CSS)
    assert "<title>{% block subject %}{% endblock %}</title>" in inlined
    assert 'href="{{ shop.url }}"' in inlined
    assert 'style="color: red;"' in inlined
    assert inlined.startswith("<!doctype html>")


def test_a_document_keeps_the_media_rules_for_phones_in_its_head() -> None:
    inlined = inline_source("<html><head></head><body><p class=lead>x</p></body></html>", CSS)
    assert "<style>@media (max-width: 600px)" in inlined


def test_jinja_comments_and_whitespace_control_are_kept() -> None:
    source = "{#- a note -#}\n<p>{%- if x -%}yes{%- endif -%}</p>"
    assert inline_source(source, "") == source
