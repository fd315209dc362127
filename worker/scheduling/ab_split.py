"""A/B assignment: where a customer falls in a test, the same in SQL (a million customers
assigned in the INSERT that resolves a broadcast) and in Python (`explain`, `plan`).

A multiplicative hash: position = (customer id times an odd multiplier) mod 2³², the multiplier
drawn from the test's name. Consecutive ids spread evenly over [0, 2³²), and each test has its
own multiplier, so one customer's variant in one test says nothing of their variant in another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, literal

SCALE = 2**32


def multiplier(test: str) -> int:
    """An odd number in [2³¹, 2³²) drawn from the test's name."""
    digest = int.from_bytes(hashlib.sha256(test.encode()).digest()[:4], "big")
    return digest | 0x80000001


def position(test: str, customer_id: int) -> float:
    """Where this customer falls in this test, in [0, 1)."""
    return (customer_id * multiplier(test)) % SCALE / SCALE


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
    at = (customer_id * literal(multiplier(test))) % literal(SCALE)
    slices = bounds(shares)
    whens = [(at < int(high * SCALE), literal(name)) for name, _, high in slices[:-1]]
    return case(*whens, else_=literal(slices[-1][0])) if whens else literal(slices[-1][0])
