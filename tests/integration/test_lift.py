"""Lift: the mailed against the held out of a trigger, over the same window, with a 95 %
interval and a verdict in words; and `ladder report` printing it at 80 columns."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models import Customer, Delivery, DeliveryStatus
from tests.support.factories import order_event
from worker.canonical import CanonicalEvent
from worker.intake.ingest import store_events
from worker.measurement.lift import lifts
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def shop(db: Session, runtime: Runtime, *, mailed: int, held: int, bought: tuple[int, int]) -> None:
    """`mailed` + `held` customers with an order a month ago; a birthday email for each on T0
    (sent, or held out); `bought[0]` of the mailed and `bought[1]` of the held out order
    25.00 two days after it, and one mailed customer orders again a week later (outside)."""
    people = [f"c{i}@example.com" for i in range(mailed + held)]
    first = [
        order_event(event_id=f"first-{i}", order_id=f"f{i}", at=T0 - 30 * DAY, email=email)
        for i, email in enumerate(people)
    ]
    run(db, runtime, first, at=T0 - 30 * DAY)
    ids = {c.email: int(c.id or 0) for c in db.exec(select(Customer)).all()}
    cause = 1  # any event row: the birthday's own cause does not matter here
    for i, email in enumerate(people):
        held_out = i >= mailed
        db.add(
            Delivery(
                dedupe_key=f"birthday:{i}",
                trigger="birthday",
                message="birthday",
                customer_id=ids[email],
                cause_event_id=cause,
                status=DeliveryStatus.HELD_OUT if held_out else DeliveryStatus.SENT,
                send_at=T0,
                sent_at=None if held_out else T0,
                created_at=T0,
                segment="loyal",
            )
        )
    db.commit()
    buyers = people[: bought[0]] + people[mailed : mailed + bought[1]]
    later = [
        order_event(event_id=f"b-{i}", order_id=f"b{i}", at=T0 + 2 * DAY, email=e, total="25.00")
        for i, e in enumerate(buyers)
    ]
    later.append(order_event(event_id="late", order_id="late", at=T0 + 7 * DAY, email=people[0]))
    run(db, runtime, later, at=T0 + 2 * DAY)


def run(db: Session, runtime: Runtime, events: list[CanonicalEvent], *, at: datetime) -> None:
    ids = store_events(db, events, now=at).stored
    for start in range(0, len(ids), 100):
        process_many(
            db, ids[start : start + 100], now=at,
            scheduler=Scheduler(runtime.triggers, runtime.settings),
        )  # fmt: skip


def test_a_holdout_of_sixty_shows_the_lift_with_its_interval(db: Session, runtime: Runtime) -> None:
    shop(db, runtime, mailed=60, held=60, bought=(30, 10))

    [lift] = lifts(db, since=None, until=None)

    assert lift.trigger == "birthday"
    assert (lift.mailed.customers, lift.mailed.converted, lift.mailed.revenue) == (60, 30, 75000)
    assert (lift.held_out.customers, lift.held_out.converted) == (60, 10)
    assert lift.conversion.difference == pytest.approx(0.5 - 1 / 6)
    # Wald: sqrt(.5*.5/60 + (1/6)(5/6)/60) = 0.08051; 1.96 of it either side.
    assert lift.conversion.low == pytest.approx(1 / 3 - 1.959964 * 0.08051, abs=1e-3)
    assert not lift.too_small
    assert lift.verdict.startswith(
        "Mailing raised conversion by +33.3 points (95 % CI +17.6 to +49.1)"
    )


def test_a_holdout_of_ten_is_too_small_to_tell(db: Session, runtime: Runtime) -> None:
    shop(db, runtime, mailed=40, held=10, bought=(10, 1))

    [lift] = lifts(db, since=None, until=None)

    assert lift.too_small
    assert lift.verdict.startswith("Too few to tell: 40 mailed (10 bought) and 10 held out")


def ladder(*args: str) -> str:
    """The real `ladder` command, 80 columns wide, on this test's database."""
    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *args],
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.commits
def test_ladder_report_prints_earnings_and_lift_within_80_columns(
    db: Session, runtime: Runtime
) -> None:
    shop(db, runtime, mailed=60, held=60, bought=(30, 10))
    db.commit()  # nothing held open: the command reads on its own connection

    shown = ladder("report")

    assert max(len(line) for line in shown.splitlines()) <= 80
    assert "birthday" in shown and "750.00" in shown  # 30 orders of 25.00, credited
    assert "Mailing raised conversion by +33.3 points" in shown.replace("\n", " ")
    data = json.loads(ladder("report", "--json"))
    [line] = [e for e in data["emails"] if e["trigger"] == "birthday"]
    assert (line["sent"], line["held_out"], line["converted"], line["revenue"]) == (
        60, 60, 30, 75000,
    )  # fmt: skip
    assert data["lift"][0]["too_small"] is False


@pytest.mark.commits
def test_ladder_report_html_writes_one_page_that_fetches_nothing(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    shop(db, runtime, mailed=60, held=60, bought=(30, 10))
    db.commit()
    target = tmp_path / "report.html"

    ladder("report", "--html", str(target))

    shown = target.read_text(encoding="utf-8")
    assert "Mailing raised conversion by +33.3 points" in shown
    assert "750.00" in shown
    labels = re.findall(r'<svg role="img" aria-label="([^":]+):', shown)
    assert labels == ["revenue per trigger", "lift of each holdout"]
    # Nothing fetched: no script, stylesheet, font or image from anywhere (the charts' own
    # glyphs and clip paths are referenced within the page, by #id).
    assert re.findall(r"(?:src|href)=\"(?!#)|@import|url\((?!#)|<script", shown) == []
