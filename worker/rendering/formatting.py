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


def _is_cjk(text: str) -> bool:
    return any("\u3400" <= char <= "\u9fff" for char in text)


def display_name(first_name: str | None, last_name: str | None, language: str) -> str:
    """The name a message addresses the reader by, as the language does it.

    Most languages use the given name. Chinese does not: a greeting with the given name alone
    ("伟, 您好") reads as over-familiar and, for the many one-character given names, odd. It
    uses the full name, family name first with no space ("王伟"); a name in Latin letters is
    given in full as the customer wrote it ("Anna Li").
    """
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if language != "zh" or not last:
        return first
    if not first or first.startswith(last):  # a full name typed in the first-name field
        return first or last
    return f"{last}{first}" if _is_cjk(first + last) else f"{first} {last}"


def greeting(first_name: str | None, language: str, last_name: str | None = None) -> str:
    """'Hi Ana' or 'Hi there'; in the language's own words and order (no final punctuation)."""
    with_name, without = GREETINGS.get(language, GREETINGS["en"])
    name = display_name(first_name, last_name, language)
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
    return _money_text(Decimal(str(amount)), currency or _currency(context), _locale(context))


# Babel takes ~30 µs an amount; a shop's prices and totals repeat from one email to the next.
@lru_cache(maxsize=4096)
def _money_text(amount: Decimal, currency: str, locale: Locale) -> str:
    return str(numbers.format_currency(amount, currency, locale=locale))


@pass_context
def format_date(context: Context, value: date | datetime | str, format: str = "long") -> str:
    """`{{ order.placed_at|date }}` → "1. Mai 2026"; `format` is short, medium, long or full.
    An ISO 8601 string is read first: Ladder's own events carry their dates that way
    (`{{ event.data.expires_at|date }}`)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        zone = _timezone(context)
        value = (value.astimezone(zone) if zone else value).date()
    return _date_text(value, format, _locale(context))


@lru_cache(maxsize=4096)
def _date_text(value: date, format: str, locale: Locale) -> str:
    return str(dates.format_date(value, format=format, locale=locale))


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


PLURAL_FORMS = ("zero", "one", "two", "few", "many", "other")


@pass_context
def plural(context: Context, count: Any, **forms: str) -> str:
    """`{{ n|plural(one="заказ", few="заказа", many="заказов", other="заказа") }}`: the form of
    a noun that goes with `count` in the email's language, by the CLDR plural rules (Babel).

    Only the noun is returned, so the number keeps its own formatting (`{{ n|number }}`).
    `other` is required: it is CLDR's catch-all, and the one form Chinese has. A form the
    language uses but the call leaves out falls back to `other`.
    """
    unknown = sorted(set(forms) - set(PLURAL_FORMS))
    if unknown:
        raise ValueError(f"plural() has no form {unknown[0]!r}: use {', '.join(PLURAL_FORMS)}")
    if "other" not in forms:
        raise ValueError('plural() needs other="…", the form every language falls back to')
    try:
        number = Decimal(str(count if count is not None else 0))
    except ArithmeticError as exc:
        raise ValueError(f"plural() counts numbers, not {count!r}") from exc
    if number == number.to_integral_value():
        number = number.to_integral_value()
    form = _locale(context).plural_form(number)
    return forms.get(form, forms["other"])


FILTERS = {
    "plural": plural,
    "money": money,
    "date": format_date,
    "datetime": format_datetime,
    "number": format_number,
    "percent": format_percent,
}
