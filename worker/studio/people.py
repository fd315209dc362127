"""The studio's people: accounts, their roles and passwords, and the rules for changing them.

Roles are ordered (viewer < editor < publisher < admin) and a higher one may do what a lower
one may. Passwords are hashed with argon2id (argon2-cffi's defaults, kept current by it). Every
change writes a line to the audit log in the transaction of the change; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, insert, select, update
from sqlmodel import Session

from models.tables import STUDIO_ACCOUNTS
from worker.studio import audit

MIN_PASSWORD_LENGTH = 12


class Role(StrEnum):
    """What a person may do in the studio, each role including the ones before it."""

    VIEWER = "viewer"  # previews
    EDITOR = "editor"  # + drafts and test sends
    PUBLISHER = "publisher"  # + publishing and rollbacks
    ADMIN = "admin"  # + people and their roles

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """True if this role may do what `needed` may."""
        return self.rank >= needed.rank


class PeopleError(ValueError):
    """A refused change, worded for the person who asked for it."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _decoy_hash() -> str:
    return hasher().hash("a password nobody has, for the time an unknown e-mail takes")


def parse_role(name: str) -> Role:
    """The role named (any case), or PeopleError listing the roles."""
    try:
        return Role(name.strip().lower())
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise PeopleError(f"unknown role {name!r}: choose one of {roles}") from None


def normalise_email(email: str) -> str:
    """Stripped and lower-cased, or PeopleError if it cannot be an address."""
    cleaned = email.strip().lower()
    local, at, domain = cleaned.partition("@")
    shaped = at and local and "." in domain and len(cleaned) <= 320
    # No spaces, NUL or other controls: PostgreSQL refuses NUL in text, and an address has none.
    if not (shaped and cleaned.isprintable()) or " " in cleaned:
        raise PeopleError(f"{email!r} is not an e-mail address")
    return cleaned


def check_password(password: str) -> None:
    """PeopleError unless the password is long enough to keep."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PeopleError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    try:
        password.encode()
    except UnicodeEncodeError:  # a lone surrogate: from bytes that were no UTF-8
        raise PeopleError("a password must be text (UTF-8)") from None


def hash_password(password: str) -> str:
    check_password(password)
    return hasher().hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """True if `password` is the one hashed; with no hash (an unknown e-mail) it spends the same
    time on a decoy and returns False, so the answer's time names no account."""
    try:
        return hasher().verify(stored_hash or _decoy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def _account(row: object) -> Account:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Account(
        id=mapping["id"],
        email=mapping["email"],
        role=Role(mapping["role"]),
        created_at=mapping["created_at"],
        disabled_at=mapping["disabled_at"],
        last_login_at=mapping["last_login_at"],
    )


_COLUMNS = (
    STUDIO_ACCOUNTS.c.id,
    STUDIO_ACCOUNTS.c.email,
    STUDIO_ACCOUNTS.c.role,
    STUDIO_ACCOUNTS.c.created_at,
    STUDIO_ACCOUNTS.c.disabled_at,
    STUDIO_ACCOUNTS.c.last_login_at,
)


def accounts(db: Session) -> list[Account]:
    """Every account, active and disabled, by e-mail."""
    rows = db.execute(select(*_COLUMNS).order_by(STUDIO_ACCOUNTS.c.email))
    return [_account(row) for row in rows]


def find(db: Session, email: str) -> Account | None:
    row = db.execute(
        select(*_COLUMNS).where(STUDIO_ACCOUNTS.c.email == email.strip().lower())
    ).first()
    return _account(row) if row is not None else None


def has_active_account(db: Session) -> bool:
    """The studio is on when somebody can log in to it."""
    query = select(STUDIO_ACCOUNTS.c.id).where(STUDIO_ACCOUNTS.c.disabled_at.is_(None)).limit(1)
    return db.execute(query).first() is not None


def add(
    db: Session, email: str, *, role: Role, password: str, actor: str, now: datetime
) -> Account:
    """A new active account; PeopleError if the address has one already or the password is
    too short."""
    address = normalise_email(email)
    if find(db, address) is not None:
        raise PeopleError(f"{address} has an account already: change its role instead")
    db.execute(
        insert(STUDIO_ACCOUNTS).values(
            email=address, password_hash=hash_password(password), role=role.value, created_at=now
        )
    )
    audit.record(db, actor=actor, action="account.add", subject=address, now=now, detail=role)
    account = find(db, address)
    assert account is not None
    return account


def _existing(db: Session, email: str) -> Account:
    account = find(db, email)
    if account is None:
        raise PeopleError(f"no account for {email.strip()!r}")
    return account


def _active_admins(db: Session) -> int:
    query = select(func.count()).where(
        STUDIO_ACCOUNTS.c.role == Role.ADMIN.value, STUDIO_ACCOUNTS.c.disabled_at.is_(None)
    )
    return int(db.execute(query).scalar_one())


def _keep_an_admin(db: Session, account: Account) -> None:
    if account.role is Role.ADMIN and account.is_active and _active_admins(db) <= 1:
        raise PeopleError(f"{account.email} is the last admin: make another admin first")


def set_role(db: Session, email: str, role: Role, *, actor: str, now: datetime) -> Account:
    """The account's new role; PeopleError for an unknown account or the last admin."""
    account = _existing(db, email)
    if account.role is role:
        return account
    if role is not Role.ADMIN:
        _keep_an_admin(db, account)
    db.execute(
        update(STUDIO_ACCOUNTS).where(STUDIO_ACCOUNTS.c.id == account.id).values(role=role.value)
    )
    audit.record(
        db, actor=actor, action="account.role", subject=account.email, now=now,
        detail=f"{account.role} -> {role}",
    )  # fmt: skip
    return _existing(db, email)


def disable(db: Session, email: str, *, actor: str, now: datetime) -> Account:
    """The account can no longer log in and its sessions end; PeopleError for the last admin.
    Disabling a disabled account changes nothing."""
    account = _existing(db, email)
    if not account.is_active:
        return account
    _keep_an_admin(db, account)
    db.execute(
        update(STUDIO_ACCOUNTS).where(STUDIO_ACCOUNTS.c.id == account.id).values(disabled_at=now)
    )
    audit.record(db, actor=actor, action="account.disable", subject=account.email, now=now)
    return _existing(db, email)


def password_hash_of(db: Session, account_id: int) -> str:
    query = select(STUDIO_ACCOUNTS.c.password_hash).where(STUDIO_ACCOUNTS.c.id == account_id)
    return str(db.execute(query).scalar_one())
