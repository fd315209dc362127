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
