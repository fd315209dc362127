"""A sweepstake from the first entry to the winners' events: entries for orders and reviews told
through `POST /events` (each event once, only while it is open), the clock's draw after
`draw_at`, once, `sweepstake.won` for each winner, and `ladder loyalty draw --verify`
reproducing it from the seed and the entries (and saying so when the entries changed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import delete, func, select
from sqlmodel import Session
from typer.testing import CliRunner

from models.tables import EVENTS, SWEEPSTAKE_DRAWS, SWEEPSTAKE_ENTRIES
from tests.integration.test_loyalty_actions import action, client, programme_runs, tell
from tests.support.web import TestClient
from worker import current_time
from worker.cli import app as cli
from worker.loyalty import sweepstakes
from worker.queue import clock
from worker.runtime import Runtime

__all__ = ["client", "programme_runs"]  # the fixtures, shared


def summer(runtime: Runtime) -> Any:
    programme = runtime.programme
    assert programme is not None
    return programme, programme.named_sweepstake("summer-hamper")


def order(event_id: str, *, at: Any, email: str) -> dict[str, Any]:
    return {
        **action(event_id, "order.placed", at=at, email=email),
        "order": {"id": event_id, "total": "20.00", "currency": "EUR"},
    }


def test_entries_are_counted_once_per_event_and_only_while_the_sweepstake_is_open(
    client: TestClient, stub_broker: StubBroker, db: Session, runtime: Runtime
) -> None:
    _, hamper = summer(runtime)
    opens = hamper.opens_at
    review = action("rev-1", "review.posted", at=opens + timedelta(days=1))
    current_time.freeze(opens + timedelta(days=10))  # the workers apply them before draw_at
    tell(
        client,
        stub_broker,
        order("o-early", at=opens - timedelta(days=1), email="ana@example.com"),  # before it opens
        order("o-1", at=opens + timedelta(days=2), email="ana@example.com"),
        review,
        action("follow", "social.followed", at=opens + timedelta(days=3)),  # enters nothing
    )
    tell(client, stub_broker, review)  # told again: no second entry

    rows = db.execute(
        select(SWEEPSTAKE_ENTRIES.c.sweepstake, SWEEPSTAKE_ENTRIES.c.tickets).order_by(
            SWEEPSTAKE_ENTRIES.c.id
        )
    ).all()
    assert [tuple(row) for row in rows] == [("summer-hamper", 1), ("summer-hamper", 2)]
    db.rollback()


def test_the_clock_draws_once_after_draw_at_the_winners_hear_and_the_draw_verifies(
    client: TestClient, stub_broker: StubBroker, db: Session, runtime: Runtime
) -> None:
    programme, hamper = summer(runtime)
    during = hamper.opens_at + timedelta(days=5)
    people = [f"fan-{n}@example.com" for n in range(60)]
    current_time.freeze(during)
    tell(client, stub_broker, *(order(f"o-{n}", at=during, email=e) for n, e in enumerate(people)))
    runner = CliRunner()
    early = runner.invoke(cli, ["loyalty", "draw", "summer-hamper"])

    assert sweepstakes.draw_due(db, programme, now=hamper.draw_at) == 0  # not settled yet
    settled = hamper.draw_at + sweepstakes.DRAW_SETTLE
    assert clock.tick(db, now=settled, runtime=runtime).loyalty["drawn"] == 1
    assert sweepstakes.draw_due(db, programme, now=settled + timedelta(minutes=1)) == 0

    won = db.execute(
        select(EVENTS.c.payload).where(EVENTS.c.type == "sweepstake.won").order_by(EVENTS.c.id)
    ).all()
    recorded = sweepstakes.recorded(db, "summer-hamper")
    db.rollback()
    assert early.exit_code == 1 and "summer-hamper is not drawn yet" in early.output
    assert recorded is not None and recorded.entries == 60 and len(recorded.winners) == 50
    assert len(won) == 50
    assert won[0].payload["data"] == {
        "sweepstake": "summer-hamper",
        "title": "The summer tea hamper",
        "prize": "A hamper of this summer's teas",
        "seed": recorded.seed,
    }
    assert len({row.payload["customer"]["email"] for row in won}) == 50

    verified = runner.invoke(cli, ["loyalty", "draw", "summer-hamper", "--verify"])
    assert verified.exit_code == 0, verified.output
    assert f"seed {recorded.seed}, 60 entries; odds disclosed 25%" in verified.output
    assert "verified: the seed and the entries give the same winners" in verified.output

    # An entry taken away after the draw: the draw no longer reproduces, and says so.
    db.execute(delete(SWEEPSTAKE_ENTRIES).where(SWEEPSTAKE_ENTRIES.c.cause.like("%:1")))
    db.commit()
    tampered = runner.invoke(cli, ["loyalty", "draw", "summer-hamper", "--verify"])
    assert tampered.exit_code == 1 and "the draw does not reproduce" in tampered.output
    draws = db.execute(select(func.count()).select_from(SWEEPSTAKE_DRAWS)).scalar_one()
    assert draws == 1
