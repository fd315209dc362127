"""Studio logins as server-side sessions: the cookie carries a random token, the database its
SHA-256, so a copy of the table logs nobody in, and ending a session is deleting its row.

A session ends after SESSION_IDLE without a request, after SESSION_MAX in any case, at logout,
and when its account is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from models.tables import STUDIO_ACCOUNTS, STUDIO_SESSIONS
from worker.studio.people import Role

SESSION_IDLE = timedelta(hours=12)  # a working day with a lunch break
SESSION_MAX = timedelta(days=7)  # then the password again, whatever the activity
SEEN_EVERY = timedelta(minutes=1)  # `last_seen_at` is written at most this often


@dataclass(frozen=True)
class Login:
    """Whose session a cookie is; `digest` names the session (and binds its forms' tokens)."""

    email: str
    role: Role
    digest: str
    account_id: int


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Session, account_id: int, *, now: datetime) -> str:
    """A new session for the account; returns the token for its cookie. The caller commits."""
    token = secrets.token_urlsafe(32)
    db.execute(
        insert(STUDIO_SESSIONS).values(
            token_digest=digest_of(token),
            account_id=account_id,
            created_at=now,
            expires_at=min(now + SESSION_IDLE, now + SESSION_MAX),
            last_seen_at=now,
        )
    )
    # Sessions that ran out are deleted as new ones start, so the table stays small.
    db.execute(delete(STUDIO_SESSIONS).where(STUDIO_SESSIONS.c.expires_at < now))
    return token


def lookup(db: Session, token: str, *, now: datetime) -> Login | None:
    """The live session the token names, its idle time renewed; None if there is none (never
    was, expired, logged out, or its account disabled). The caller commits."""
    if not token or len(token) > 128:
        return None
    digest = digest_of(token)
    row = db.execute(
        select(
            STUDIO_SESSIONS.c.id,
            STUDIO_SESSIONS.c.created_at,
            STUDIO_SESSIONS.c.expires_at,
            STUDIO_SESSIONS.c.last_seen_at,
            STUDIO_ACCOUNTS.c.id.label("account_id"),
            STUDIO_ACCOUNTS.c.email,
            STUDIO_ACCOUNTS.c.role,
        )
        .join(STUDIO_ACCOUNTS, STUDIO_ACCOUNTS.c.id == STUDIO_SESSIONS.c.account_id)
        .where(STUDIO_SESSIONS.c.token_digest == digest, STUDIO_ACCOUNTS.c.disabled_at.is_(None))
    ).first()
    if row is None or row.expires_at <= now:
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        db.execute(
            update(STUDIO_SESSIONS)
            .where(STUDIO_SESSIONS.c.id == row.id)
            .values(
                last_seen_at=now, expires_at=min(now + SESSION_IDLE, row.created_at + SESSION_MAX)
            )
        )
    return Login(email=row.email, role=Role(row.role), digest=digest, account_id=row.account_id)


def end(db: Session, token: str) -> None:
    """Logs the token's session out (nothing if there is none). The caller commits."""
    db.execute(delete(STUDIO_SESSIONS).where(STUDIO_SESSIONS.c.token_digest == digest_of(token)))
