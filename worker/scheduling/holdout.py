"""Holdouts: a deterministic share of each trigger's customers kept as a control group."""

from __future__ import annotations

import hashlib

_SCALE = 2.0**64


def share_of(trigger: str, customer_id: int) -> float:
    """Where this customer falls for this trigger, uniformly in [0, 1): the same on every
    process and every run, and independent between triggers."""
    digest = hashlib.sha256(f"{trigger}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def is_held_out(trigger: str, customer_id: int, holdout: float) -> bool:
    """True if this customer is in the trigger's control group (`holdout` is its share)."""
    return holdout > 0 and share_of(trigger, customer_id) < holdout
