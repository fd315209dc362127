"""Column types and value helpers: UTC timestamps (and seconds added to one, in SQL) and money
in minor units."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, DateTime, all_, any_, bindparam
from sqlalchemy.dialects import postgresql
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


class one_of(FunctionElement[bool]):
    """`column IN (:name)` for a list given as parameter `name` when the statement runs.

    On PostgreSQL `column = ANY(:name)`: one array parameter, so the statement's text is the
    same for every length, and psycopg parses it once and caches it. An expanding IN writes a
    placeholder an item, a new statement for every length, parsed again in Python each time
    past 50 items: 6 % of a worker's CPU went to parsing order lines' and claims' IN lists.
    """

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a test itself: SQLite is not given `(… IN …) = 1`

    def __init__(self, column: Any, name: str) -> None:
        super().__init__(column, bindparam(name, expanding=True))


class none_of(one_of):
    """`column NOT IN (:name)`; on PostgreSQL `column <> ALL(:name)` (true for an empty list,
    as NOT IN is)."""

    inherit_cache = True


@compiles(one_of)
def _one_of(element: one_of, compiler: Any, **kw: Any) -> str:
    column, items = element.clauses
    test = column.not_in(items) if isinstance(element, none_of) else column.in_(items)
    return str(compiler.process(test, **kw))


@compiles(one_of, "postgresql")
def _one_of_postgresql(element: one_of, compiler: Any, **kw: Any) -> str:
    column, items = element.clauses
    array = bindparam(items.key, type_=postgresql.ARRAY(column.type))
    test = column != all_(array) if isinstance(element, none_of) else column == any_(array)
    return str(compiler.process(test, **kw))
