"""What time it is: the wall clock, or a simulated one that the demo and tests move forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

_lock = threading.Lock()
_frozen: datetime | None = None


def now() -> datetime:
    with _lock:
        return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Pins `now()` to `at` (aware); None returns to the wall clock."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    with _lock:
        _frozen = at
