"""Logging in to the studio, with a rate limit every web process shares (it counts rows).

Failed attempts are counted per e-mail given (MAX_PER_EMAIL in WINDOW) and per client address
(MAX_PER_CLIENT: one machine trying many accounts). Past either, logins are refused without
checking the password until the window moves on, and the burst is written to the audit log once.
An unknown e-mail and a wrong password are the same failure, to the caller and to the clock.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlmodel import Session

from models.tables import STUDIO_ACCOUNTS, STUDIO_LOGIN_ATTEMPTS
from worker.studio import audit, people, sessions

WINDOW = timedelta(minutes=15)
MAX_PER_EMAIL = 5
MAX_PER_CLIENT = 20
KEPT = timedelta(days=1)  # failed attempts older than this are deleted


@dataclass(frozen=True)
class LoggedIn:
    token: str  # for the session cookie
    login: sessions.Login


@dataclass(frozen=True)
class WrongLogin:
    """The e-mail has no active account, or the password is not its password."""


@dataclass(frozen=True)
class TooManyAttempts:
    retry_after_s: int


Outcome = LoggedIn | WrongLogin | TooManyAttempts


def _digest(value: str) -> str:
    # surrogatepass: whatever was typed is counted, a lone surrogate too.
    return hashlib.sha256(value.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def _retry_after(db: Session, where: ColumnElement[bool], limit: int, now: datetime) -> int | None:
    """Seconds until fewer than `limit` failures matching `where` lie in the window, or None
    if fewer do already."""
    # The limit-th newest failure in the window is the one whose ageing out reopens the door.
    query = (
        select(STUDIO_LOGIN_ATTEMPTS.c.at)
        .where(where, STUDIO_LOGIN_ATTEMPTS.c.at > now - WINDOW)
        .order_by(STUDIO_LOGIN_ATTEMPTS.c.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    at: datetime | None = db.execute(query).scalar_one_or_none()
    if at is None:
        return None
    return max(1, math.ceil((at + WINDOW - now).total_seconds()))


def retry_after(db: Session, *, email: str, client: str, now: datetime) -> int | None:
    """Seconds to wait before this e-mail or client may try again; None: it may now."""
    waits = [
        _retry_after(
            db, STUDIO_LOGIN_ATTEMPTS.c.email_digest == _digest(email), MAX_PER_EMAIL, now
        ),
        _retry_after(
            db, STUDIO_LOGIN_ATTEMPTS.c.client_digest == _digest(client), MAX_PER_CLIENT, now
        ),
    ]
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


def log_in(db: Session, *, email: str, password: str, client: str, now: datetime) -> Outcome:
    """A session for the account if the password is its own and neither the e-mail nor the
    client is over the limit. The caller commits, whatever the outcome (a failure is a row)."""
    wait = retry_after(db, email=email, client=client, now=now)
    if wait is not None:
        return TooManyAttempts(wait)
    try:
        account = people.find(db, people.normalise_email(email))
    except people.PeopleError:
        account = None  # no address at all: a wrong login like any other
    usable = account if account is not None and account.is_active else None
    stored = people.password_hash_of(db, usable.id) if usable is not None else None
    if usable is None or not people.password_matches(stored, password):
        return _failed(db, email=email, client=client, account=account, now=now)
    if stored is not None and people.hasher().check_needs_rehash(stored):
        db.execute(
            update(STUDIO_ACCOUNTS)
            .where(STUDIO_ACCOUNTS.c.id == usable.id)
            .values(password_hash=people.hasher().hash(password))
        )
    db.execute(
        update(STUDIO_ACCOUNTS).where(STUDIO_ACCOUNTS.c.id == usable.id).values(last_login_at=now)
    )
    # A right password forgives the e-mail's earlier slips (the client's count stays).
    db.execute(
        delete(STUDIO_LOGIN_ATTEMPTS).where(STUDIO_LOGIN_ATTEMPTS.c.email_digest == _digest(email))
    )
    audit.record(db, actor=usable.email, action="login", subject=usable.email, now=now)
    token = sessions.start(db, usable.id, now=now)
    login = sessions.Login(
        email=usable.email, role=usable.role, digest=sessions.digest_of(token), account_id=usable.id
    )
    return LoggedIn(token=token, login=login)


def _failed(
    db: Session, *, email: str, client: str, account: people.Account | None, now: datetime
) -> WrongLogin:
    email_digest, client_digest = _digest(email), _digest(client)
    db.execute(
        insert(STUDIO_LOGIN_ATTEMPTS).values(
            at=now, email_digest=email_digest, client_digest=client_digest
        )
    )
    db.execute(delete(STUDIO_LOGIN_ATTEMPTS).where(STUDIO_LOGIN_ATTEMPTS.c.at < now - KEPT))
    by_email = _failures(db, STUDIO_LOGIN_ATTEMPTS.c.email_digest == email_digest, now)
    by_client = _failures(db, STUDIO_LOGIN_ATTEMPTS.c.client_digest == client_digest, now)
    if by_email == MAX_PER_EMAIL or by_client == MAX_PER_CLIENT:
        # The failure that closes the door: once per burst. An unknown e-mail is not named
        # (it may be anybody's address); the client only by a digest.
        audit.record(
            db,
            actor="login",
            action="login.refused",
            subject=account.email if account is not None else "(no such account)",
            now=now,
            detail=(
                f"{by_email} failures for the e-mail, {by_client} from client "
                f"{client_digest[:12]} in {WINDOW.seconds // 60} minutes"
            ),
        )
    return WrongLogin()


def _failures(db: Session, where: ColumnElement[bool], now: datetime) -> int:
    query = select(func.count()).where(where, STUDIO_LOGIN_ATTEMPTS.c.at > now - WINDOW)
    return int(db.execute(query).scalar_one())
