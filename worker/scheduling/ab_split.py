"""A/B assignment: the variant a customer gets in a test, the same in SQL (a million customers
assigned in the INSERT that resolves a broadcast) and in Python (`explain`, `plan`), from where
they fall in it (`measurement.assignment`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, literal

from worker.measurement.assignment import SCALE, multiplier, position, scaled_position_sql

__all__ = ["SCALE", "bounds", "multiplier", "position", "variant_of", "variant_sql"]


def bounds(shares: Sequence[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """Each variant with the [low, high) slice of [0, 1) its share covers, in order."""
    found, low = [], 0.0
    for index, (name, share) in enumerate(shares):
        high = 1.0 if index == len(shares) - 1 else low + share
        found.append((name, low, high))
        low = high
    return found


def variant_of(test: str, shares: Sequence[tuple[str, float]], customer_id: int) -> str:
    """The variant this customer gets: the one whose slice holds their position."""
    at = position(test, customer_id)
    return next(name for name, low, high in bounds(shares) if low <= at < high)


def variant_sql(test: str, shares: Sequence[tuple[str, float]], customer_id: Any) -> Any:
    """`variant_of` as a SQL expression over the column `customer_id` (64-bit integers on
    PostgreSQL and SQLite: an id below 2³¹ times a multiplier below 2³² fits)."""
    at = scaled_position_sql(test, customer_id)
    slices = bounds(shares)
    whens = [(at < int(high * SCALE), literal(name)) for name, _, high in slices[:-1]]
    return case(*whens, else_=literal(slices[-1][0])) if whens else literal(slices[-1][0])
