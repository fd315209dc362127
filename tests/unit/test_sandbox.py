"""Templates render in the sandbox: no way out through attributes, and customer text is inert."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.authoring.sample_customers import sample_context
from worker.rendering.renderer import Renderer, RenderError
from worker.settings import Settings

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ customer.__class__.__init__.__globals__ }}",
    "{{ greeting.__class__.__base__.__subclasses__() }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ '{0.__class__.__mro__}'.format(customer) }}",
    "{{ customer.update({'accepts_marketing': False}) }}",
    "{{ order.lines.append(1) }}",
    "{{ range(10 ** 9)|list }}",
]


def renderer_with(tmp_path: Path, body: str) -> Renderer:
    (tmp_path / "layouts").mkdir()
    (tmp_path / "layouts" / "base.html.j2").write_text(
        "<html><head><title>{% block subject %}{% endblock %}</title></head>"
        "<body>{% block body %}{% endblock %}</body></html>",
        encoding="utf-8",
    )
    (tmp_path / "offer").mkdir()
    (tmp_path / "offer" / "default.html.j2").write_text(
        '{% extends "layouts/base.html.j2" %}{% block subject %}Hi{% endblock %}'
        f"{{% block body %}}{body}{{% endblock %}}",
        encoding="utf-8",
    )
    return Renderer(tmp_path, "en")


@pytest.mark.parametrize("escape", ESCAPES)
def test_an_attempt_to_leave_the_sandbox_fails_with_a_render_error(
    tmp_path: Path, escape: str
) -> None:
    renderer = renderer_with(tmp_path, escape)
    context = sample_context(Settings())
    with pytest.raises(RenderError, match=r"^offer/default\.html\.j2:1: "):
        renderer.render("offer", segment=None, locale="en", context=context)
    assert context["customer"]["accepts_marketing"] is True  # and nothing was changed


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & <b>Bo</b>'


@pytest.mark.parametrize("message", ["thank_you", "upsell", "win_back"])
@pytest.mark.parametrize("locale", ["en", "de", "zh"])
def test_customer_supplied_html_is_escaped_in_the_html_and_plain_in_the_text(
    message: str, locale: str
) -> None:
    settings = Settings()
    renderer = Renderer(settings.templates_dir, settings.default_locale)
    context = sample_context(settings, segment="champions", locale=locale)
    context["customer"]["first_name"] = HOSTILE
    context["order"]["lines"][0]["title"] = HOSTILE
    context["recommendations"][0]["title"] = HOSTILE
    email = renderer.render(message, segment="champions", locale=locale, context=context)
    assert "<script" not in email.html and "<img" not in email.html and "<b>Bo" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in email.html
    # The text part and the subject are plain text: the name reads as typed there, and no mail
    # client runs it.
    assert HOSTILE in email.text
    assert "&lt;" not in email.text and "&#34;" not in email.text
    assert "&lt;" not in email.subject and "&#34;" not in email.subject


# Work a template could ask for that would take a worker's memory or time (each of these ran
# for minutes or allocated gigabytes before the sandbox counted work).
EXHAUSTING = {
    "one huge string": "{{ ('a' * 10**9)|length }}",
    "one huge list": "{{ ([1] * 10**9)|length }}",
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
    "{% endfor %}",
    "nested loops writing": "{% set r = range(100000) %}{% for i in r %}{% for j in r %}x"
    "{% endfor %}{% endfor %}",
    "a huge power": "{{ 10 ** (10 ** 9) }}",
    "a printf width": "{{ '%999999999d' % 1 }}",
    "a printf width from an argument": "{{ '%*d' % (999999999, 1) }}",
    "padding a string": "{{ 'a'.ljust(10**9) }}",
    "a format width": "{{ '{:>999999999}'.format(1) }}",
    "the center filter": "{{ 'a'|center(10**9) }}",
    "replace multiplying": "{% set s = 'a' * 1000 %}{{ s|replace('a', s)|replace('a', s) }}",
    "a namespace doubling": "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "a macro doubling its argument": "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}"
    "{% endif %}{% endmacro %}{{ d('a', 40) }}",
    "a macro calling itself twice": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}"
    "{% endif %}{% endmacro %}{{ f(40) }}",
    "a macro calling itself forever": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "batch filling": "{{ [1]|batch(10**9, 0)|list|length }}",
    "lorem ipsum": "{{ lipsum(10**6)|length }}",
}


@pytest.mark.parametrize("body", EXHAUSTING.values(), ids=EXHAUSTING.keys())
def test_work_that_would_exhaust_a_worker_is_a_template_error(tmp_path: Path, body: str) -> None:
    renderer = renderer_with(tmp_path, body)
    with pytest.raises(RenderError, match=r"^offer/default\.html\.j2:1: ") as raised:
        renderer.render("offer", segment=None, locale="en", context=sample_context(Settings()))
    what = str(raised.value).partition(": ")[2]
    assert what.startswith("the template ") or what == "maximum recursion depth exceeded"


def test_a_condition_that_would_exhaust_a_worker_is_a_condition_error() -> None:
    from triggers import ConditionError
    from triggers.matching import CompiledTrigger, compile_expression
    from triggers.schema import Trigger
    from worker.rendering.sandbox import make_environment

    env = make_environment(Path("templates"), inline_css=False)
    condition, _ = compile_expression(env, "when", "('a' * 10**9)|length > 0")
    trigger = Trigger.model_validate(
        {"name": "greedy", "on": "order.placed", "message": "thank_you", "when": "x"}
    )
    compiled = CompiledTrigger(trigger=trigger, condition=condition, names=frozenset())
    with pytest.raises(ConditionError, match="builds a value of 1,000,000,000 characters"):
        compiled.matches({})


def test_ordinary_loops_strings_and_formats_are_not_limited(tmp_path: Path) -> None:
    body = (
        "{% for x in [1, 2, 3] %}{{ loop.index }}{{ x }}{% endfor %}|{{ 'ab' * 3 }}|"
        "{{ '%05d' % 42 }}|{{ '{:>4}'.format(7) }}|{{ 'x'|center(5) }}|{{ 2 ** 10 }}|"
        "{% for i in range(20000) %}{% if i == 19999 %}{{ i }}{% endif %}{% endfor %}"
    )
    renderer = renderer_with(tmp_path, body)
    email = renderer.render("offer", segment=None, locale="en", context=sample_context(Settings()))
    assert "112233|ababab|00042|   7|  x  |1024|19999" in email.html


def test_a_memory_error_in_a_render_is_a_template_error_not_retried(tmp_path: Path) -> None:
    def greedy() -> str:
        raise MemoryError

    renderer = renderer_with(tmp_path, "{{ greedy() }}")
    context = {**sample_context(Settings()), "greedy": greedy}
    with pytest.raises(RenderError, match=r"^offer/default\.html\.j2:1: "):
        renderer.render("offer", segment=None, locale="en", context=context)


def test_the_time_a_render_waits_for_the_database_is_not_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow recommendations query must not fail an email as a template bug; a slow template
    fails however little it waited. The renders' clock is a fake one: each look at it is a
    millisecond of the template's work, and the query takes half a second of it."""
    from types import SimpleNamespace

    from worker.rendering import bounds
    from worker.rendering.variables import LazySequence

    now = [0.0]

    def monotonic() -> float:
        now[0] += 0.001
        return now[0]

    monkeypatch.setattr(bounds, "time", SimpleNamespace(monotonic=monotonic))
    monkeypatch.setattr(bounds, "SECONDS", 0.2)
    monkeypatch.setattr(bounds, "_CLOCK_EVERY", 1)

    def slow_query() -> list[str]:
        now[0] += 0.5
        return ["tea"]

    renderer = renderer_with(
        tmp_path,
        "{% for item in picks %}{{ item }}{% endfor %}{% for i in range(50) %}{% endfor %}",
    )
    context = {**sample_context(Settings()), "picks": LazySequence(slow_query)}
    assert "tea" in renderer.render("offer", segment=None, locale="en", context=context).html

    (tmp_path / "busy").mkdir()
    busy = renderer_with(tmp_path / "busy", "{% for i in range(300) %}{{ i }}{% endfor %}")
    with pytest.raises(RenderError, match=r"longer than 0\.2 s"):
        busy.render("offer", segment=None, locale="en", context=sample_context(Settings()))
