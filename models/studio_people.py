"""The studio's people: accounts with a role, their sessions, and the login attempts that the
rate limit counts.

Sessions and attempts live in the database, not in a web process's memory, so every web
process sees the same logins and the same refusals. Nothing here holds a secret in the clear:
a session's cookie token and an attempt's e-mail and client address are stored as SHA-256.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class StudioAccount(SQLModel, table=True):
    """One person who may log in to the studio; `disabled_at` set: no longer."""

    __tablename__ = "studio_accounts"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)  # stored lower-cased
    password_hash: str = Field(max_length=255)  # argon2id, with its parameters and salt
    role: str = Field(sa_column=Column(String(16), nullable=False))  # worker.studio.people.Role
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class StudioSession(SQLModel, table=True):
    """A login: the browser's cookie holds a random token, this row only its digest."""

    __tablename__ = "studio_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_digest: str = Field(max_length=64, unique=True)  # hex SHA-256 of the cookie's token
    account_id: int = Field(foreign_key="studio_accounts.id", index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StudioLoginAttempt(SQLModel, table=True):
    """A failed login, counted by the e-mail it named and by the client that sent it."""

    __tablename__ = "studio_login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    email_digest: str = Field(max_length=64, index=True)  # hex SHA-256 of the e-mail given
    client_digest: str = Field(max_length=64, index=True)  # hex SHA-256 of the client address
