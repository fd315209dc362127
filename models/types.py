"""Column types and value helpers: UTC timestamps (and seconds added to one, in SQL) and money
in minor units."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# ISO 4217 currencies whose minor unit is not the cent; everything else has two decimals.
_MINOR_DIGITS = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every database and always returns an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Ladder stores only aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite returns text
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency.upper(), 2)


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """Converts a major-unit amount as the platforms send it ("45.90") to minor units (4590).

    Raises ValueError for anything that is not a finite decimal number.
    """
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    scaled = value.scaleb(minor_digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units back to a Decimal in major units, for templates and conditions."""
    return Decimal(minor).scaleb(-minor_digits(currency))


class plus_seconds(FunctionElement[datetime]):
    """`when + seconds` as SQL, for a UTCDateTime column and an integer column or value:
    exact on PostgreSQL; on SQLite (text to the millisecond) up to a millisecond late."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(plus_seconds, "postgresql")
def _plus_seconds_postgresql(element: plus_seconds, compiler: Any, **kw: Any) -> str:
    when, seconds = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"({when} + make_interval(secs => {seconds}))"


@compiles(plus_seconds, "sqlite")
def _plus_seconds_sqlite(element: plus_seconds, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy writes microseconds ("…:00.000000"); strftime gives milliseconds, padded so
    # that a time at the very end still compares as inside.
    when, seconds = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(strftime('%Y-%m-%d %H:%M:%f', {when}, ({seconds}) || ' seconds') || '999')"
