"""What went out from a template file lately: the editor shows it under the versions, so a
marketer sees the next email after a publish carry the new version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from models.tables import DELIVERIES
from worker.authoring import proofs


@dataclass(frozen=True)
class Sent:
    delivery_id: int
    trigger: str
    status: str
    sent_at: datetime | None
    version: int | None  # None: sent before versions were recorded


def sent_from(db: Session, variant: str, *, limit: int = 10) -> list[Sent]:
    """The newest deliveries rendered from `variant`, sent or failed: ids, never addresses."""
    c = DELIVERIES.c
    rows = db.execute(
        select(c.id, c.trigger, c.status, c.sent_at, c.template_version)
        .where(c.variant == variant)
        .order_by(c.id.desc())
        .limit(limit)
    )
    return [Sent(*row) for row in rows]


def is_address(text: str) -> bool:
    """Whether `text` is an e-mail address (what a page may repeat back from its link)."""
    try:
        proofs.checked_address(text)
    except proofs.ProofError:
        return False
    return True
