"""The audit log: who published, rolled back, imported, gave or took a role, and when.

Written in the transaction of what it records, so a publish and its line commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel import Session

from models.tables import STUDIO_AUDIT


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: str | None


def record(
    db: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    now: datetime,
    detail: str | None = None,
) -> None:
    """One line; the caller commits. `subject` is a file or a staff account, never a customer."""
    db.execute(
        insert(STUDIO_AUDIT).values(
            at=now, actor=actor, action=action, subject=subject, detail=detail
        )
    )


def latest(db: Session, *, limit: int = 100, subject: str | None = None) -> list[AuditLine]:
    """The newest lines first, of one subject when given."""
    query = select(
        STUDIO_AUDIT.c.at,
        STUDIO_AUDIT.c.actor,
        STUDIO_AUDIT.c.action,
        STUDIO_AUDIT.c.subject,
        STUDIO_AUDIT.c.detail,
    )
    if subject is not None:
        query = query.where(STUDIO_AUDIT.c.subject == subject)
    rows = db.execute(query.order_by(STUDIO_AUDIT.c.id.desc()).limit(limit))
    return [AuditLine(*row) for row in rows]
