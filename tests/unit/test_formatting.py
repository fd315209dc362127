"""Money, dates and numbers formatted per language (Babel), and the greeting's fallbacks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.rendering import formatting


def render(source: str, **context: Any) -> str:
    env = ImmutableSandboxedEnvironment(autoescape=True)
    env.filters.update(formatting.FILTERS)
    return env.from_string(source).render(**context)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "1.234,50\xa0€"),
        ("de_CH", "EUR\xa01\u2019234.50"),
        ("en", "€1,234.50"),
        ("es", "1.234,50\xa0€"),
        ("ru", "1\xa0234,50\xa0€"),
        ("zh", "€1,234.50"),
    ],
)
def test_money_is_in_the_orders_currency_written_the_readers_way(
    locale: str, expected: str
) -> None:
    order = {"total": Decimal("1234.50"), "currency": "EUR"}
    assert render("{{ order.total|money }}", order=order, locale=locale) == expected


def test_money_takes_another_currency_when_named() -> None:
    assert render("{{ 9|money('JPY') }}", locale="ja") == "￥9"
    assert render("{{ 1500|money('MXN') }}", locale="es_MX") == "$1,500.00"


def test_without_an_order_money_is_in_the_customers_then_the_shops_currency() -> None:
    assert render("{{ 5|money }}", customer={"currency": "GBP"}, locale="en") == "£5.00"
    assert render("{{ 5|money }}", shop={"currency": "USD"}, locale="en") == "$5.00"


def test_dates_are_written_in_the_readers_language_and_time_zone() -> None:
    late = datetime(2026, 5, 1, 23, 30, tzinfo=UTC)
    assert render("{{ at|date }}", at=late, locale="de") == "1. Mai 2026"
    assert render("{{ at|date }}", at=late, locale="es") == "1 de mayo de 2026"
    assert render("{{ at|date('short') }}", at=late, locale="en") == "5/1/26"
    # 23:30 UTC is already the next day in Moscow.
    moscow = {"timezone": "Europe/Moscow"}
    assert render("{{ at|date }}", at=late, customer=moscow, locale="ru") == "2 мая 2026\u202fг."  # noqa: RUF001
    assert render("{{ day|date }}", day=date(2026, 2, 3), locale="zh") == "2026年2月3日"


def test_numbers_and_percentages_follow_the_language() -> None:
    assert render("{{ 1234.5|number }}", locale="de") == "1.234,5"
    assert render("{{ 3|number(2) }}", locale="en") == "3.00"
    assert render("{{ 0.2|percent }}", locale="de") == "20\xa0%"


def test_an_unknown_locale_formats_the_english_way_instead_of_failing() -> None:
    assert render("{{ 5|money('EUR') }}", locale="xx_YY") == "€5.00"
    assert render("{{ 5|money('EUR') }}") == "€5.00"


@pytest.mark.parametrize(
    ("language", "with_name", "without"),
    [
        ("en", "Hi Ana", "Hi there"),
        ("es", "Hola, Ana", "Hola"),
        ("de", "Hallo Ana", "Hallo"),
        ("ru", "Здравствуйте, Ana", "Здравствуйте"),
        ("zh", "Ana，您好", "您好"),  # noqa: RUF001
        ("fr", "Hi Ana", "Hi there"),
    ],
)
def test_the_greeting_reads_naturally_with_and_without_a_name(
    language: str, with_name: str, without: str
) -> None:
    assert formatting.greeting("Ana", language) == with_name
    assert formatting.greeting(None, language) == without
    assert formatting.greeting(" ", language) == without
