"""The customers' pages in the shop's own layout (`templates/layouts/page.html.j2`, beside the
emails' layout and in its colours), rendered in Ladder's one sandbox, autoescaped: the layout is
the shop's file, so it gets no more power than an email template."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Template
from markupsafe import Markup

from worker.rendering.sandbox import make_environment
from worker.rendering.variables import shop_view
from worker.settings import Settings

LAYOUT = "layouts/page.html.j2"


@lru_cache(maxsize=8)
def _layout(templates_dir: Path) -> Template:
    """Read once per process, as the workers read the emails: a deploy restarts it. As written
    (no inlining): a browser honours the layout's <style>."""
    return make_environment(templates_dir, inline_css=False).get_template(LAYOUT)


def branded_page(settings: Settings, *, language: str, title: str, body: Markup) -> str:
    """A whole page: `body` is HTML the caller escaped, `title` text, both in `language`."""
    return _layout(settings.templates_dir).render(
        language=language, title=title, body=body, shop=shop_view(settings)
    )
