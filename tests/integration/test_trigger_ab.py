"""A/B on a trigger: each customer's variant decided by a hash when the delivery is scheduled,
recorded on it, its template sent, counted per variant by `ladder ab-test`, told by explain."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, col, select

from models import Delivery
from tests.support.factories import order_event
from worker.authoring.broadcast_status import results_of
from worker.authoring.explaining import explain
from worker.cli.broadcasts import print_results
from worker.delivery.sending import deliver
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling import ab_split
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
SHARES = [("plain", 0.5), ("warm", 0.5)]
TRIGGER = """
name    = "thank-you"
message = "thank_you"
on      = "order.placed"
when    = "customer.orders_count == 1"
wait    = "2h"

[[variants]]
name  = "plain"
share = 0.5

[[variants]]
name    = "warm"
share   = 0.5
message = "second_order"
"""


@pytest.fixture
def ab_triggers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A triggers folder with the thank-you as an A/B test; before `runtime` reads it."""
    folder = tmp_path / "triggers"
    folder.mkdir()
    (folder / "thank_you.toml").write_text(TRIGGER)
    monkeypatch.setenv("TRIGGERS_DIR", str(folder))
    return folder


def test_each_customer_gets_the_variant_their_hash_chose_and_the_result_counts_it(
    ab_triggers: Path,  # noqa: ARG001  (read by `runtime`)
    runtime: Runtime,
    db: Session,
) -> None:
    scheduler = Scheduler(runtime.triggers, runtime.settings)
    for n in range(12):
        event = order_event(event_id=f"ord-{n}", order_id=str(n), at=T0, email=f"c{n}@example.com")
        [event_id] = store_events(db, [event], now=T0).stored
        process(db, event_id, now=T0, scheduler=scheduler)
    rows = list(db.exec(select(Delivery).order_by(col(Delivery.id))).all())
    assert len(rows) == 12
    for row in rows:
        expected = ab_split.variant_of("thank-you", SHARES, row.customer_id)
        assert row.ab_variant == expected
        assert row.message == ("second_order" if expected == "warm" else "thank_you")
    for row in rows:
        assert deliver(db, row.id or 0, now=T0 + timedelta(hours=2), runtime=runtime) == "sent"

    first = rows[0]
    told = explain(
        db, "c0@example.com", triggers=runtime.triggers, env=runtime.renderer.env,
        settings=runtime.settings, now=T0,
    )  # fmt: skip
    assert told is not None
    [match] = [m for step in told.steps for m in step.matches]
    assert (match.trigger, match.outcome) == ("thank-you", "matched")
    assert match.detail.startswith(f"A/B variant {first.ab_variant}: hash 0.")

    # c0 orders again the next day: the order is credited to c0's email, and its variant.
    again = order_event(event_id="again", order_id="again", at=T0 + timedelta(days=1),
                        email="c0@example.com", total="42.50")  # fmt: skip
    [event_id] = store_events(db, [again], now=T0 + timedelta(days=1)).stored
    process(db, event_id, now=T0 + timedelta(days=1), scheduler=scheduler)

    found = results_of(db, "thank-you")
    split = Counter(row.ab_variant for row in rows)
    assert [(r.variant, r.sent) for r in found] == sorted(split.items())
    bought = {r.variant: (r.bought.count, r.revenue) for r in found}
    assert bought[str(rows[0].ab_variant)] == (1, 4250)
    assert sum(count for count, _ in bought.values()) == 1
    console = Console(file=io.StringIO(), width=80, record=True)
    print_results(found, console, "EUR")
    text = console.export_text()
    assert "│ plain " in text
    assert "│ warm " in text
    assert "42.50" in text and max(len(line) for line in text.splitlines()) <= 80
