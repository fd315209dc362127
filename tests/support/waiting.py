"""Waiting on a condition with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout_s: float,
    interval_s: float = 0.02,
    what: str = "the condition",
    on_timeout: Callable[[], str] = lambda: "",
) -> None:
    """Returns as soon as `condition()` is true; fails the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}. {on_timeout()}".strip())
        time.sleep(interval_s)
