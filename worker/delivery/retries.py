"""When a delivery that met a transient provider error is tried again: the back-off lives on
its row (`failures`, `send_at`), not in a broker message a worker holds in memory."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from worker.settings import Settings

# Up to this share is added to each back-off, so deliveries that failed together (a provider
# outage) do not all come back in the same second.
JITTER = 0.2


def backoff(
    failures: int, *, min_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the `failures`-th transient error: `min_s` after the first,
    doubling each time, never above `max_s`."""
    draw = (rng or random).random()
    base = min_s * 2.0 ** min(failures - 1, 32)  # the exponent bounded: no float overflow
    return min(max_s, base * (1 + JITTER * draw))


def retry_at(failures: int, *, now: datetime, settings: Settings) -> datetime | None:
    """When to try again after the `failures`-th transient error; None once that was the last
    one allowed (`delivery_max_failures`): the delivery is given up."""
    if failures >= settings.delivery_max_failures:
        return None
    wait = backoff(
        failures, min_s=settings.delivery_retry_min_s, max_s=settings.delivery_retry_max_s
    )
    return now + timedelta(seconds=wait)
