"""A broadcast's test-then-winner: a share of its audience gets the variants at 10:00 theirs,
the clock picks the variant that did best by the file's metric, and the rest get it a day
later at 10:00 theirs: once, whatever the clocks do, and told by status and explain."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update
from sqlmodel import Session, col, select

from models import BroadcastRun, Customer, Delivery, DeliveryStatus, RunStatus
from tests.integration.test_broadcasts import BEFORE, TOKYO_10, news_runtime
from triggers import TriggerError
from triggers.broadcast import load_broadcast
from worker.authoring.broadcast_plan import plan_broadcast
from worker.authoring.broadcast_status import status_of
from worker.authoring.explaining import explain
from worker.cli.broadcasts import print_plan, print_status
from worker.measurement.assignment import position
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling import ab_split, broadcasts

# The personal subject is its own template (whats_new_b extends whats_new).
AB = """
[[variants]]
name  = "plain"
share = 0.5

[[variants]]
name    = "personal"
share   = 0.5
message = "whats_new_b"
"""
TEST = '\n[test]\nshare  = 0.3\nmetric = "clicked"\nwait   = "1d"\n'
SHARES = [("plain", 0.5), ("personal", 0.5)]


@pytest.fixture
def tested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Runtime]:
    yield from news_runtime(tmp_path, monkeypatch, database_url, extra=AB + TEST)


def loyal_customers(db: Session, count: int) -> list[int]:
    for n in range(count):
        db.add(
            Customer(
                email=f"c{n}@example.com", first_name="Ana", locale="en", accepts_marketing=True,
                created_at=BEFORE - timedelta(days=400), segment="loyal", timezone="Asia/Tokyo",
            )
        )  # fmt: skip
    db.commit()
    return [int(c.id or 0) for c in db.exec(select(Customer)).all()]


def deliveries(db: Session) -> dict[int, Delivery]:
    db.expire_all()
    return {d.customer_id: d for d in db.exec(select(Delivery)).all()}


def test_the_test_share_gets_the_variants_and_the_rest_the_winner_a_day_later_once(
    db: Session, tested: Runtime
) -> None:
    ids = loyal_customers(db, 120)
    broadcast = tested.broadcasts["news"]
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=tested.settings)
    resolve_at = db.get(BroadcastRun, run_id).resolve_at  # type: ignore[union-attr]

    clock.resolve_broadcasts(db, now=resolve_at, runtime=tested)

    in_test = {i for i in ids if position("broadcast:news:test", i) < 0.3}
    assert 20 < len(in_test) < 55  # about 36 of 120
    rows = deliveries(db)
    assert set(rows) == in_test
    for customer, row in rows.items():
        assert row.ab_variant == ab_split.variant_of("broadcast:news", SHARES, customer)
        assert row.send_at == TOKYO_10
    run = db.get(BroadcastRun, run_id)
    assert run is not None and run.status == RunStatus.TESTING
    winner_at = run.winner_at
    assert winner_at == TOKYO_10 + timedelta(days=1) - timedelta(hours=5, minutes=10)

    # The test went out; every "personal" email was clicked, no "plain" one.
    db.execute(update(Delivery).values(status="sent", sent_at=TOKYO_10))
    personal = col(Delivery.ab_variant) == "personal"
    db.execute(update(Delivery).where(personal).values(status="clicked"))
    db.commit()
    assert clock.resolve_broadcasts(db, now=winner_at - timedelta(minutes=1), runtime=tested) == 0
    assert set(deliveries(db)) == in_test  # not yet

    rest = clock.resolve_broadcasts(db, now=winner_at, runtime=tested)
    again = clock.resolve_broadcasts(db, now=winner_at + timedelta(minutes=5), runtime=tested)

    rows = deliveries(db)
    assert (rest, again) == (len(ids) - len(in_test), 0)
    assert set(rows) == set(ids) and len(db.exec(select(Delivery)).all()) == len(ids)
    for customer in set(ids) - in_test:
        row = rows[customer]
        assert (row.message, row.ab_variant) == ("whats_new_b", None)  # the personal subject
        assert row.send_at == TOKYO_10 + timedelta(days=1)  # 10:00 in Tokyo, the next day
    db.expire_all()
    run = db.get(BroadcastRun, run_id)
    assert run is not None and (run.status, run.winner) == (RunStatus.RESOLVED, "personal")
    split = Counter(rows[c].ab_variant for c in in_test)
    assert run.winner_note == (
        f"clicked: plain 0.0% of {split['plain']}, personal 100.0% of {split['personal']}"
    )

    console = Console(file=io.StringIO(), width=80, record=True)
    print_status(status_of(db, "news"), console, "EUR")
    said = " ".join(console.export_text().split())
    assert f"Run {run_id}: the winner, personal, went to the rest (clicked: plain 0.0%" in said
    someone = next(c for c in ids if c not in in_test)
    email = db.exec(select(Customer.email).where(col(Customer.id) == someone)).one()
    told = explain(
        db, email, triggers=tested.triggers, env=tested.renderer.env, settings=tested.settings,
        now=winner_at, broadcasts=tested.broadcasts,
    )  # fmt: skip
    assert told is not None
    details = [m.detail for step in told.steps for m in step.matches if m.detail]
    assert any(d.startswith("got the test's winner, whats_new_b (hash 0.") for d in details)


def test_a_test_that_sent_nothing_gives_the_rest_the_first_variant(
    db: Session, tested: Runtime
) -> None:
    loyal_customers(db, 20)
    broadcast = tested.broadcasts["news"]
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=tested.settings)
    run = db.get(BroadcastRun, run_id)
    assert run is not None
    clock.resolve_broadcasts(db, now=run.resolve_at, runtime=tested)
    db.expire_all()
    winner_at = db.get(BroadcastRun, run_id).winner_at  # type: ignore[union-attr]
    assert winner_at is not None

    clock.resolve_broadcasts(db, now=winner_at, runtime=tested)

    db.expire_all()
    run = db.get(BroadcastRun, run_id)
    assert run is not None and run.winner == "plain"
    assert run.winner_note == "no email of the test went out: plain, the first"


def test_a_broadcast_cancelled_in_test_never_sends_the_rest(db: Session, tested: Runtime) -> None:
    loyal_customers(db, 40)
    broadcast = tested.broadcasts["news"]
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=tested.settings)
    resolve_at = db.get(BroadcastRun, run_id).resolve_at  # type: ignore[union-attr]
    clock.resolve_broadcasts(db, now=resolve_at, runtime=tested)
    tested_rows = len(deliveries(db))

    runs, cancelled = broadcasts.cancel(db, "news", now=resolve_at + timedelta(minutes=1))

    assert (runs, cancelled) == (1, tested_rows)
    later = resolve_at + timedelta(days=2)
    assert clock.resolve_broadcasts(db, now=later, runtime=tested) == 0
    assert {d.status for d in deliveries(db).values()} == {DeliveryStatus.CANCELLED}
    assert len(deliveries(db)) == tested_rows


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (TEST, "a [test] needs two [[variants]] or more"),
        (AB + TEST.replace('"1d"', '"4h"'), "write the test's wait in whole days"),
        (AB + TEST.replace("0.3", "1.5"), "share"),
    ],
)
def test_a_test_the_clock_could_not_run_is_refused_with_the_file_and_why(
    tmp_path: Path, extra: str, said: str
) -> None:
    path = tmp_path / "news.toml"
    path.write_text('name = "news"\nmessage = "whats_new"\ndate = 2027-01-05\n' + extra)

    with pytest.raises(TriggerError) as refused:
        load_broadcast(path)

    assert "news.toml" in str(refused.value) and said in str(refused.value)


def test_plan_says_how_many_get_the_test_and_when_the_rest_get_the_winner(
    db: Session, tested: Runtime
) -> None:
    ids = loyal_customers(db, 120)
    in_test = sum(1 for i in ids if position("broadcast:news:test", i) < 0.3)

    found = plan_broadcast(db, tested.broadcasts["news"], env=tested.renderer.env,
                           settings=tested.settings, now=BEFORE)  # fmt: skip

    console = Console(file=io.StringIO(), width=80, record=True)
    print_plan(found, console)
    said = " ".join(console.export_text().split())
    assert (
        f"A test first: {in_test:,} of them (the test's 30%) get the variants; the rest get the"
        " one with the most clicks per email, 1d later."
    ) in said
