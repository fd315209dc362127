"""The login rate limit as rows: per e-mail and per client, in a window that slides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from tests.support.studio import PASSWORD
from worker.studio import audit, logins, people, sessions
from worker.studio.people import Role

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANA = "ana@shop.example"


def an_account(db: Session) -> None:
    people.add(db, ANA, role=Role.EDITOR, password=PASSWORD, actor="test", now=T0)


def attempt(db: Session, at: datetime, *, email: str = ANA, password: str = "wrong, wrong!",
            client: str = "192.0.2.1") -> logins.Outcome:  # fmt: skip
    return logins.log_in(db, email=email, password=password, client=client, now=at)


def test_the_wait_lasts_until_the_oldest_counted_failure_leaves_the_window(db: Session) -> None:
    an_account(db)
    for minute in range(logins.MAX_PER_EMAIL):
        assert isinstance(attempt(db, T0 + timedelta(minutes=minute)), logins.WrongLogin)
    # The first failure (T0) ages out at T0 + 15 min: from T0 + 10 min that is 300 s away.
    assert attempt(db, T0 + timedelta(minutes=10), password=PASSWORD) == logins.TooManyAttempts(300)
    assert isinstance(
        attempt(db, T0 + logins.WINDOW + timedelta(seconds=1), password=PASSWORD),
        logins.LoggedIn,
    )


def test_an_unknown_email_is_counted_and_refused_like_a_known_one(db: Session) -> None:
    for _ in range(logins.MAX_PER_EMAIL):
        attempt(db, T0, email="nobody@shop.example")
    assert isinstance(attempt(db, T0, email="nobody@shop.example"), logins.TooManyAttempts)
    [line] = audit.latest(db)
    assert (line.action, line.subject) == ("login.refused", "(no such account)")


def test_one_client_trying_many_accounts_is_stopped_by_its_own_count(db: Session) -> None:
    an_account(db)
    for n in range(logins.MAX_PER_CLIENT):
        attempt(db, T0, email=f"guess{n}@shop.example")
    assert isinstance(attempt(db, T0, password=PASSWORD), logins.TooManyAttempts)
    other_client = attempt(db, T0, password=PASSWORD, client="198.51.100.7")
    assert isinstance(other_client, logins.LoggedIn)


def test_a_right_password_forgives_the_emails_earlier_failures_and_opens_a_session(
    db: Session,
) -> None:
    an_account(db)
    for _ in range(logins.MAX_PER_EMAIL - 1):
        attempt(db, T0)
    done = attempt(db, T0, password=PASSWORD)
    assert isinstance(done, logins.LoggedIn)
    assert sessions.lookup(db, done.token, now=T0) == done.login
    assert sessions.lookup(db, done.token + "x", now=T0) is None
    for _ in range(logins.MAX_PER_EMAIL - 1):
        assert isinstance(attempt(db, T0), logins.WrongLogin)  # counting starts again


def test_a_session_ends_after_its_maximum_age_however_busy(db: Session) -> None:
    an_account(db)
    done = attempt(db, T0, password=PASSWORD)
    assert isinstance(done, logins.LoggedIn)
    at = T0
    while at < T0 + sessions.SESSION_MAX - timedelta(hours=1):
        at += timedelta(hours=1)
        assert sessions.lookup(db, done.token, now=at) is not None
    assert sessions.lookup(db, done.token, now=T0 + sessions.SESSION_MAX) is None
