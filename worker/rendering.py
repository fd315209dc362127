"""The one sandboxed Jinja environment, the template fallback chain, and rendering an email."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from worker.plaintext import html_to_text

SUFFIX = ".html.j2"
DEFAULT_SEGMENT = "default"


class RenderError(Exception):
    """A template is missing or broken: permanent for the delivery that needed it."""


@dataclass(frozen=True)
class RenderedEmail:
    variant: str  # the template used, e.g. "win_back/champions.es.html.j2"
    subject: str
    html: str
    text: str


class _Sandbox(ImmutableSandboxedEnvironment):
    """Money is a Decimal, and `1.5 * before.average_order_value` is what a marketer writes:
    Python refuses float * Decimal, so a float meeting a Decimal is read as the Decimal it spells.
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if isinstance(left, float) and isinstance(right, Decimal):
            left = Decimal(repr(left))
        elif isinstance(left, Decimal) and isinstance(right, float):
            right = Decimal(repr(right))
        return super().call_binop(context, operator, left, right)


def make_environment(templates_dir: Path) -> ImmutableSandboxedEnvironment:
    """Templates and trigger conditions share this sandbox: marketers learn one language."""
    return _Sandbox(
        loader=FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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


class Renderer:
    """Chooses the variant for a person and renders subject, HTML and plain text."""

    def __init__(self, templates_dir: Path, default_locale: str) -> None:
        self.env = make_environment(templates_dir)
        self.default_locale = default_locale

    @cached_property
    def available(self) -> frozenset[str]:
        return frozenset(self.env.list_templates(extensions=["j2"]))

    def messages(self) -> list[str]:
        return sorted(
            {name.split("/")[0] for name in self.available if "/" in name}
            - {
                "layouts",
                "partials",
            }
        )

    def choose_variant(self, message: str, segment: str | None, locale: str | None) -> str:
        for name in variant_candidates(message, segment, locale, self.default_locale):
            if name in self.available:
                return name
        raise RenderError(f"no template for message {message!r}: add {message}/default{SUFFIX}")

    def render(
        self, message: str, *, segment: str | None, locale: str | None, context: Mapping[str, Any]
    ) -> RenderedEmail:
        variant = self.choose_variant(message, segment, locale)
        return self.render_variant(variant, context)

    def render_variant(self, variant: str, context: Mapping[str, Any]) -> RenderedEmail:
        try:
            template = self.env.get_template(variant)
            if "subject" not in template.blocks:
                raise RenderError(f"{variant} declares no {{% block subject %}}")
            html = template.render(context)
            subject_html = "".join(template.blocks["subject"](template.new_context(dict(context))))
        except TemplateError as exc:
            lineno = getattr(exc, "lineno", None)
            where = f"{variant}:{lineno}" if lineno else variant
            raise RenderError(f"{where}: {exc}") from exc
        subject = " ".join(Markup(subject_html).unescape().split())
        if not subject:
            raise RenderError(f"{variant} renders an empty subject")
        return RenderedEmail(variant=variant, subject=subject, html=html, text=html_to_text(html))
