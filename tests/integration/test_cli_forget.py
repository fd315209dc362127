"""`ladder customers forget` cannot be undone: it asks first, unless told --yes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from models import Customer
from tests.support.factories import order_event
from worker.cli import app
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def a_customer(db: Session, runtime: Runtime) -> None:
    event = order_event(event_id="o-1", order_id="1", at=T0, email="lena@example.com")
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    db.commit()


def emails(db: Session) -> list[str]:
    db.expire_all()
    found = [c.email for c in db.exec(select(Customer)).all()]
    db.rollback()
    return found


@pytest.mark.commits  # the command opens its own session
def test_forget_asks_first_and_erases_nothing_unless_confirmed(
    db: Session, runtime: Runtime
) -> None:
    a_customer(db, runtime)
    declined = CliRunner().invoke(app, ["customers", "forget", "lena@example.com"], input="n\n")
    assert declined.exit_code == 1
    assert "This cannot be undone" in declined.output
    assert "Error: nothing erased. Pass --yes" in declined.output
    assert emails(db) == ["lena@example.com"]

    unasked = CliRunner().invoke(app, ["customers", "forget", "lena@example.com"], input="")
    assert unasked.exit_code == 1  # no answer (no terminal) is no
    assert "Error: nothing erased." in unasked.output
    assert emails(db) == ["lena@example.com"]

    confirmed = CliRunner().invoke(app, ["customers", "forget", "lena@example.com"], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "lena@example.com" not in emails(db)


@pytest.mark.commits
def test_forget_with_yes_erases_without_asking(db: Session, runtime: Runtime) -> None:
    a_customer(db, runtime)
    done = CliRunner().invoke(app, ["customers", "forget", "lena@example.com", "--yes"])
    assert done.exit_code == 0, done.output
    assert "This cannot be undone" not in done.output
    assert "lena@example.com" not in emails(db)


@pytest.mark.usefixtures("runtime")
def test_forget_of_an_unknown_address_fails_in_the_common_wording() -> None:
    done = CliRunner().invoke(app, ["customers", "forget", "nobody@example.com", "--yes"])
    assert done.exit_code == 1
    assert "Error: no customer with the address 'nobody@example.com'." in done.output
