"""Where a customer falls in an experiment, uniformly in [0, 1), the same in SQL (a million
customers in one statement) and in Python: the A/B split (`scheduling.ab_split`) and the global
holdout (`measurement.programme`) both stand on it.

A multiplicative hash: position = (customer id times an odd multiplier) mod 2³², the multiplier
drawn from the experiment's name. Consecutive ids spread evenly over [0, 2³²), and each
experiment has its own multiplier, so where a customer falls in one says nothing of another.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import literal

SCALE = 2**32


def multiplier(name: str) -> int:
    """An odd number in [2³¹, 2³²) drawn from the experiment's name."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return digest | 0x80000001


def position(name: str, customer_id: int) -> float:
    """Where this customer falls in this experiment, in [0, 1)."""
    return (customer_id * multiplier(name)) % SCALE / SCALE


def scaled_position_sql(name: str, customer_id: Any) -> Any:
    """`position` times 2³² as a SQL expression over the column `customer_id` (64-bit integers
    on PostgreSQL and SQLite: an id below 2³¹ times a multiplier below 2³² fits)."""
    return (customer_id * literal(multiplier(name))) % literal(SCALE)


# The global holdout (GLOBAL_HOLDOUT): a share of customers, always the same ones, who get no
# marketing at all, so the whole programme can be measured against them (`lift.programme_lift`).
GLOBAL_HOLDOUT = "global-holdout"
GLOBAL_REASON = "global holdout"  # how their rows' reasons start


def in_global_holdout(customer_id: int, share: float) -> bool:
    return share > 0 and position(GLOBAL_HOLDOUT, customer_id) < share


def global_holdout_sql(customer_id: Any, share: float) -> Any:
    """`in_global_holdout` as a SQL condition over the column `customer_id`."""
    return scaled_position_sql(GLOBAL_HOLDOUT, customer_id) < literal(int(share * SCALE))


def global_reason(share: float) -> str:
    return f"{GLOBAL_REASON}: {share:.0%} of customers get no marketing at all, never sent"
