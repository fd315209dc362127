"""The one sandboxed Jinja environment, the template fallback chain, and rendering an email."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    BaseLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.rendering import formatting
from worker.rendering.inlining import InliningLoader
from worker.rendering.plaintext import html_to_text

SUFFIX = ".html.j2"
DEFAULT_SEGMENT = "default"
_MAX_CHOICES = 4096


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


# What `getattr` finds on a plain dict: the names a template's `mapping.name` reads as a method.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Sandbox(ImmutableSandboxedEnvironment):
    """Money is a Decimal, and `1.5 * before.average_order_value` is what a marketer writes:
    Python refuses float * Decimal, so a float meeting a Decimal is read as the Decimal it spells.
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`customer.first_name` on a dict, as Jinja reads it (an attribute of that name first,
        then the item), without the AttributeError Jinja raises and catches on every lookup."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if isinstance(left, float) and isinstance(right, Decimal):
            left = Decimal(repr(left))
        elif isinstance(left, Decimal) and isinstance(right, float):
            right = Decimal(repr(right))
        return super().call_binop(context, operator, left, right)


def make_environment(
    templates_dir: Path, *, inline_css: bool = True, auto_reload: bool = False
) -> ImmutableSandboxedEnvironment:
    """Templates and trigger conditions share this sandbox: marketers learn one language.

    `inline_css=False` reads the files as written, so errors point at the lines a marketer
    sees (`ladder check` uses it); sending inlines the stylesheet once per template version.
    `auto_reload` looks for changed files at every render (previews); a worker reads its
    templates once, as it reads its code, and a deploy restarts it.
    """
    loader: BaseLoader = (
        InliningLoader(templates_dir) if inline_css else FileSystemLoader(templates_dir)
    )
    env = _Sandbox(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=auto_reload,
    )
    env.filters.update(formatting.FILTERS)
    return env


def locale_chain(locale: str | None, default_locale: str) -> list[str]:
    """`es_MX` → ["es_MX", "es", <default>]: the most specific language first."""
    chain: list[str] = []
    for candidate in (locale, default_locale):
        if not candidate:
            continue
        candidate = candidate.replace("-", "_")
        for name in (candidate, candidate.split("_")[0]):
            if name not in chain:
                chain.append(name)
    return chain


def variant_candidates(
    message: str, segment: str | None, locale: str | None, default_locale: str
) -> Iterator[str]:
    """The fallback chain. Language first: a Spanish reader gets Spanish before a better-fitting
    segment in another language. Files without a locale are in the shop's default language.

    For `es_MX`, segment `new`, default `en`: new.es_MX, default.es_MX, new.es, default.es,
    new.en, new, default.en, default.
    """
    segments = [DEFAULT_SEGMENT]
    if segment and segment != DEFAULT_SEGMENT:
        segments.insert(0, segment)
    default_code = default_locale.replace("-", "_")
    for code in locale_chain(locale, default_locale):
        for name in segments:
            yield f"{message}/{name}.{code}{SUFFIX}"
            if code in (default_code, default_code.split("_")[0]):
                yield f"{message}/{name}{SUFFIX}"


def variant_locale(variant: str, default_locale: str) -> str:
    """The language a variant is written in: `win_back/default.es.html.j2` → "es"; a file
    without a locale is in the shop's default language."""
    parts = variant.rsplit("/", 1)[-1].removesuffix(SUFFIX).split(".")
    return parts[1] if len(parts) > 1 else default_locale.replace("-", "_")


def formatting_locale(variant_code: str, customer_locale: str | None) -> str:
    """The customer's own locale when the email is in their language (es_MX formats as in
    Mexico), else the variant's: an English email formats numbers the English way."""
    if customer_locale:
        code = customer_locale.replace("-", "_")
        if code.split("_")[0] == variant_code.split("_")[0]:
            return code
    return variant_code


# What a template's own code can raise: a bug in the template, permanent for the delivery. A
# database error while loading recommendations is none of these: it stays transient.
_TEMPLATE_BUGS = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError)

# The layout marks the preheader so it can be read back, and left out of the text part.
PREHEADER_START, PREHEADER_END = "<!--preheader-->", "<!--/preheader-->"
_HREF = re.compile(r'href="(https?://[^"]+)"')
_UNTRACKED = ("unsubscribe_url", "preferences_url")  # their links get no UTM tags
_TAG = re.compile(r"<[^>]*>")


@lru_cache(maxsize=256)
def _utm_tags(campaign: str) -> str:
    return f"utm_source=ladder&amp;utm_medium=email&amp;utm_campaign={quote(campaign)}"


def tag_links(html: str, campaign: str, untracked: tuple[str, ...]) -> str:
    """Adds utm_source=ladder, utm_medium=email and utm_campaign to every http(s) link, except
    the `untracked` ones (unsubscribe, preferences) and links that carry their own UTM tags."""
    parts = _HREF.split(html)  # [html, url, html, url, …, html]: a loop, not a callback a link
    tags = _utm_tags(campaign)
    for index in range(1, len(parts), 2):
        url = parts[index]
        if url in untracked or "utm_source=" in url:
            parts[index] = f'href="{url}"'
            continue
        base, hash_, fragment = url.partition("#")
        joiner = "&amp;" if "?" in base else "?"
        parts[index] = f'href="{base}{joiner}{tags}{hash_}{fragment}"'
    return "".join(parts)


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
    ) -> None:
        self.templates_dir = templates_dir
        self.env = make_environment(templates_dir, inline_css=inline_css, auto_reload=auto_reload)
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
        full = {
            **context,
            "locale": code,
            "language": language,
            "greeting": formatting.greeting(customer.get("first_name"), language),
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
        )
