"""Privacy requests: a customer's data exported, a customer or a whole shop forgotten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from worker.sources import PrivacyRequest


def carry_out(
    db: Session, source: str, requests: Sequence[PrivacyRequest], *, now: datetime
) -> None:
    """Carries out each request inside the caller's transaction."""
    raise NotImplementedError((db, source, requests, now))
