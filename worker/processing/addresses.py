"""The address check when a customer arrives: bad syntax is suppressed, with the reason."""

from __future__ import annotations

from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session

from worker.processing.preferences import suppress


def address_problem(email: str) -> str | None:
    """Why `email` cannot receive mail, by its syntax alone (no DNS look-up); None if it can."""
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def suppress_if_invalid(db: Session, email: str, *, now: datetime) -> bool:
    """Suppresses an address that is not one, so nothing is ever sent to it. The caller
    commits. Returns True if the address was refused."""
    problem = address_problem(email)
    if problem is None:
        return False
    suppress(db, email, f"invalid address: {problem}", now=now)
    return True
