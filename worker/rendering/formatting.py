"""Per-language formatting for templates (Babel): money, dates, numbers, and the greeting."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError, dates, numbers
from jinja2 import pass_context
from jinja2.runtime import Context

# How a message opens, with a name and without one. A missing name must read naturally, never
# "Hi None" or "Hi ,": each language has its own graceful form.
GREETINGS: dict[str, tuple[str, str]] = {
    "en": ("Hi {name}", "Hi there"),
    "es": ("Hola, {name}", "Hola"),
    "de": ("Hallo {name}", "Hallo"),
    "ru": ("Здравствуйте, {name}", "Здравствуйте"),
    "zh": ("{name}，您好", "您好"),  # noqa: RUF001
}


@lru_cache(maxsize=256)
def babel_locale(code: str | None, fallback: str = "en") -> Locale:
    """`es_MX`, `es-MX` or `es` as a Babel Locale; an unknown code falls back, never raises."""
    for candidate in (code, fallback, "en"):
        if not candidate:
            continue
        try:
            return Locale.parse(candidate.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            continue
    raise AssertionError("Babel always knows 'en'")


def greeting(first_name: str | None, language: str) -> str:
    """'Hi Ana' or 'Hi there'; in the language's own words and order (no final punctuation)."""
    with_name, without = GREETINGS.get(language, GREETINGS["en"])
    name = (first_name or "").strip()
    return with_name.format(name=name) if name else without


def _locale(context: Context) -> Locale:
    return babel_locale(context.get("locale"))


def _currency(context: Context) -> str:
    """The order's currency, else the customer's, else the shop's."""
    for holder in ("order", "customer", "shop"):
        value = context.get(holder)
        if isinstance(value, dict) and value.get("currency"):
            return str(value["currency"])
    return "EUR"


def _timezone(context: Context) -> tzinfo | None:
    customer = context.get("customer")
    name = customer.get("timezone") if isinstance(customer, dict) else None
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@pass_context
def money(context: Context, amount: Decimal | float | int, currency: str | None = None) -> str:
    """`{{ order.total|money }}` → "45,90 €" in German, "€45.90" in English. Amounts are in
    major units (as the context gives them); the currency defaults to the order's."""
    return numbers.format_currency(
        Decimal(str(amount)), currency or _currency(context), locale=_locale(context)
    )


@pass_context
def format_date(context: Context, value: date | datetime, format: str = "long") -> str:
    """`{{ order.placed_at|date }}` → "1. Mai 2026"; `format` is short, medium, long or full."""
    if isinstance(value, datetime):
        zone = _timezone(context)
        value = (value.astimezone(zone) if zone else value).date()
    return dates.format_date(value, format=format, locale=_locale(context))


@pass_context
def format_datetime(context: Context, value: datetime, format: str = "medium") -> str:
    """A date and time in the customer's time zone when known."""
    return dates.format_datetime(
        value, format=format, tzinfo=_timezone(context), locale=_locale(context)
    )


@pass_context
def format_number(context: Context, value: Any, digits: int | None = None) -> str:
    """`{{ 1234.5|number }}` → "1.234,5" in German; `digits` fixes the decimals."""
    if digits is None:
        return numbers.format_decimal(value, locale=_locale(context))
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return numbers.format_decimal(value, format=pattern, locale=_locale(context))


@pass_context
def format_percent(context: Context, value: Any) -> str:
    """`{{ 0.2|percent }}` → "20 %" in German, "20%" in English."""
    return numbers.format_percent(value, locale=_locale(context))


FILTERS = {
    "money": money,
    "date": format_date,
    "datetime": format_datetime,
    "number": format_number,
    "percent": format_percent,
}
