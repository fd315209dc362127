"""Money in minor units and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.dialects import sqlite

from models.types import UTCDateTime, minor_digits, to_major, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("45.90", "EUR", 4590),
        ("0.10", "USD", 10),
        ("1200", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("12", "KWD", 12000),
        (Decimal("22.95"), "EUR", 2295),
        (7, "EUR", 700),
        ("45.90", "eur", 4590),
    ],
)
def test_to_minor_scales_by_the_currency_minor_unit(
    amount: str | int | Decimal, currency: str, minor: int
) -> None:
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("0.005", "EUR", 1),
        ("2.675", "EUR", 268),
        ("2.665", "EUR", 267),
        ("1199.5", "JPY", 1200),
        ("1.2345", "KWD", 1235),
        ("1.2344", "KWD", 1234),
    ],
)
def test_to_minor_rounds_half_up_not_like_a_float(amount: str, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize("amount", ["nan", "NaN", "inf", "-Infinity"])
def test_to_minor_refuses_an_amount_that_is_not_finite(amount: str) -> None:
    with pytest.raises(ValueError, match=f"not a finite amount: '{amount}'"):
        to_minor(amount, "EUR")


@pytest.mark.parametrize("amount", ["abc", "", "45,90", "1.2.3"])
def test_to_minor_refuses_text_that_is_not_a_number(amount: str) -> None:
    with pytest.raises(ValueError, match="not a decimal amount"):
        to_minor(amount, "EUR")


def test_to_major_gives_back_the_exact_decimal() -> None:
    assert to_major(4590, "EUR") == Decimal("45.90")
    assert str(to_major(4590, "EUR")) == "45.90"
    assert to_major(1200, "JPY") == Decimal("1200")
    assert str(to_major(1235, "KWD")) == "1.235"


def test_minor_digits_defaults_to_two() -> None:
    assert (minor_digits("EUR"), minor_digits("JPY"), minor_digits("BHD")) == (2, 0, 3)


def test_utc_datetime_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive datetime given"):
        UTCDateTime().process_bind_param(datetime(2026, 5, 1, 10), sqlite.dialect())


def test_utc_datetime_stores_utc_and_reads_back_an_aware_utc_time() -> None:
    madrid = timezone(timedelta(hours=2))
    column = UTCDateTime()
    stored = column.process_bind_param(datetime(2026, 5, 1, 12, tzinfo=madrid), sqlite.dialect())
    assert stored == datetime(2026, 5, 1, 10)
    assert column.process_result_value(stored, sqlite.dialect()) == datetime(
        2026, 5, 1, 10, tzinfo=UTC
    )
    read = column.process_result_value("2026-05-01 10:00:00.000000", sqlite.dialect())
    assert read is not None
    assert (read, read.tzinfo) == (datetime(2026, 5, 1, 10, tzinfo=UTC), UTC)
    assert column.process_bind_param(None, sqlite.dialect()) is None
