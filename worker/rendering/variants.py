"""The variant chain: which template file a person gets, by language first, then segment."""

from __future__ import annotations

from collections.abc import Iterator

SUFFIX = ".html.j2"
DEFAULT_SEGMENT = "default"


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
