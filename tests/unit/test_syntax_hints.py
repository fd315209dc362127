"""Where a Jinja block left open was opened: the line a marketer must fix."""

from __future__ import annotations

from worker.authoring.syntax_hints import opened_at

TEXT = """{% block body %}
{% if customer.first_name %}<p>Hi</p>{% endif %}
{% for item in items %}
{% if item.price %}
<p>{{ item.name }}</p>
{% endfor %}
{% endblock %}
"""


def test_the_innermost_open_block_of_its_kind_is_found() -> None:
    assert opened_at(TEXT, "if", 6) == 4  # line 2's `if` closes on its own line
    assert opened_at(TEXT, "for", 6) == 3
    assert opened_at(TEXT, "block", 7) == 1


def test_a_closed_block_is_not_named() -> None:
    assert opened_at(TEXT, "if", 3) is None
    assert opened_at("{% macro x() %}{% endmacro %}\n", "macro", 2) is None
