"""Rendering an email: the variant chosen for a person, its subject, preheader, HTML and text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from html import unescape
from pathlib import Path
from typing import Any

from jinja2 import (
    Template,
    TemplateError,
    TemplateSyntaxError,
)

from worker.rendering import formatting
from worker.rendering.links import tag_links
from worker.rendering.plaintext import html_to_text
from worker.rendering.published import GIT_VERSION, NOTHING, Published
from worker.rendering.sandbox import make_environment
from worker.rendering.variants import (
    SUFFIX,
    formatting_locale,
    variant_candidates,
    variant_locale,
)

_MAX_CHOICES = 4096
# What rendering adds to the context every template gets (`ladder check` reads the names here).
ADDED_NAMES = ("locale", "language", "greeting", "customer_name")


class RenderError(Exception):
    """A template is missing or broken: permanent for the delivery that needed it."""


@dataclass(frozen=True)
class RenderedEmail:
    variant: str  # the template used, e.g. "win_back/champions.es.html.j2"
    locale: str  # the language it was formatted in, e.g. "es_MX"
    subject: str
    preheader: str
    html: str
    text: str
    version: int = GIT_VERSION  # of the variant's file: 1 as in git, or the studio's published


# What a template's own code can raise: a bug in the template, permanent for the delivery (a
# render past its bounds raises bounds.LimitExceeded, a TemplateError; a macro calling itself,
# RecursionError). A database error while loading recommendations is none of these: it stays
# transient.
_TEMPLATE_BUGS = (
    TemplateError,
    ArithmeticError,
    TypeError,
    ValueError,
    LookupError,
    RecursionError,
    MemoryError,
)

# The layout marks the preheader so it can be read back, and left out of the text part.
PREHEADER_START, PREHEADER_END = "<!--preheader-->", "<!--/preheader-->"
_UNTRACKED = ("unsubscribe_url", "preferences_url", "loyalty_url")  # their links: no UTM tags
_TAG = re.compile(r"<[^>]*>")


def _between(html: str, start: str, end: str) -> tuple[str, str]:
    """What lies between the first `start` and the next `end`, and the HTML without it."""
    first = html.find(start)
    last = html.find(end, first) if first >= 0 else -1
    if last < 0:
        return "", html
    return html[first + len(start) : last], html[:first] + html[last + len(end) :]


def _text_of(fragment: str) -> str:
    """Rendered HTML as one line of plain text: tags dropped, entities decoded."""
    if "<" in fragment:
        fragment = _TAG.sub("", fragment)
    if "&" in fragment:
        fragment = unescape(fragment)
    return " ".join(fragment.split())


def where(exc: BaseException, fallback: str, templates_dir: Path) -> str:
    """`file:line` of the template line that raised, from the traceback Jinja rewrites."""
    if isinstance(exc, TemplateSyntaxError) and exc.lineno:
        return f"{exc.name or fallback}:{exc.lineno}"
    root = str(templates_dir.resolve()) + "/"
    tb = exc.__traceback__
    found = fallback
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = f"{filename.removeprefix(root)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


class Renderer:
    """Chooses the variant for a person and renders subject, preheader, HTML and plain text."""

    def __init__(
        self,
        templates_dir: Path,
        default_locale: str,
        *,
        inline_css: bool = True,
        auto_reload: bool = False,
        published: Published = NOTHING,
    ) -> None:
        self.templates_dir = templates_dir
        self.published = published  # the studio's versions over the files, this renderer's
        self.env = make_environment(
            templates_dir,
            inline_css=inline_css,
            auto_reload=auto_reload,
            overlay=published.bodies,
        )
        self.default_locale = default_locale
        # What depends only on the template files, worked out once per Renderer (a worker reads
        # its templates once): the variant for (message, segment, locale), the compiled template.
        self._chosen: dict[tuple[str, str | None, str | None], str] = {}
        self._templates: dict[str, Template] = {}

    @cached_property
    def available(self) -> frozenset[str]:
        return frozenset(self.env.list_templates(extensions=["j2"]))

    def messages(self) -> list[str]:
        names = {name.split("/")[0] for name in self.available if "/" in name}
        return sorted(names - {"layouts", "partials"})

    def variants(self, message: str) -> list[str]:
        return sorted(name for name in self.available if name.startswith(f"{message}/"))

    def choose_variant(self, message: str, segment: str | None, locale: str | None) -> str:
        key = (message, segment, locale)
        chosen = self._chosen.get(key)
        if chosen is None:
            for name in variant_candidates(message, segment, locale, self.default_locale):
                if name in self.available:
                    chosen = name
                    break
            else:
                raise RenderError(
                    f"no template for message {message!r}: add {message}/default{SUFFIX}"
                )
            if len(self._chosen) >= _MAX_CHOICES:  # locales come from shop data: stay bounded
                self._chosen.clear()
            self._chosen[key] = chosen
        return chosen

    def _template(self, variant: str) -> Template:
        """The compiled template, checked for a subject once per version of its files."""
        template = self._templates.get(variant)
        if template is None:
            template = self.env.get_template(variant)
            if "subject" not in template.blocks:
                raise RenderError(f"{variant}:1: declares no {{% block subject %}}")
            if not self.env.auto_reload:  # else Jinja looks for changed files at every render
                self._templates[variant] = template
        return template

    def render(
        self,
        message: str,
        *,
        segment: str | None,
        locale: str | None,
        context: Mapping[str, Any],
        campaign: str | None = None,
    ) -> RenderedEmail:
        """Raises RenderError, naming the file and line, for a missing or broken template."""
        variant = self.choose_variant(message, segment, locale)
        return self.render_variant(variant, context, locale=locale, campaign=campaign)

    def render_variant(
        self,
        variant: str,
        context: Mapping[str, Any],
        *,
        locale: str | None = None,
        campaign: str | None = None,
    ) -> RenderedEmail:
        """Renders one file. `locale` is the customer's (for regional formats); `campaign` is
        the utm_campaign of its links (the trigger; the message name when not given)."""
        code = formatting_locale(variant_locale(variant, self.default_locale), locale)
        language = code.split("_")[0]
        customer = context.get("customer") or {}
        full = {  # the names in ADDED_NAMES
            **context,
            "locale": code,
            "language": language,
            "greeting": formatting.greeting(
                customer.get("first_name"), language, customer.get("last_name")
            ),
            "customer_name": formatting.display_name(
                customer.get("first_name"), customer.get("last_name"), language
            ),
        }
        try:
            html = self._template(variant).render(full)
        except _TEMPLATE_BUGS as exc:
            raise RenderError(f"{where(exc, variant, self.templates_dir)}: {exc}") from exc
        subject = _text_of(_between(html, "<title>", "</title>")[0])
        if not subject:
            raise RenderError(f"{variant}:1: renders an empty subject")
        untracked = tuple([str(context[name]) for name in _UNTRACKED if name in context])
        html = tag_links(html, campaign or variant.split("/")[0], untracked)
        preheader, body = _between(html, PREHEADER_START, PREHEADER_END)
        preheader = _text_of(preheader)
        return RenderedEmail(
            variant=variant,
            locale=code,
            subject=subject,
            preheader=preheader,
            html=html,
            text=html_to_text(body),
            version=self.published.version_of(variant),
        )
