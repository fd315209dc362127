"""`ladder demo` on a small shop: emails on disk, a page listing each of them, a summary."""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlmodel import Session, col, select

from models import Customer, Delivery, Event
from models.db import session
from tests.support.factories import order_event
from tests.support.scrapes import samples, value
from tests.support.web import TestClient
from worker.demo import replay, run_demo
from worker.metrics import exposition
from worker.runtime import Runtime, get_runtime
from worker.settings import EmailBackend, Settings
from worker.web import create_app


# A year of a small shop, replayed: about a minute alone, and over the suite's two minutes on a
# machine busy with other work.
@pytest.mark.timeout(360)
def test_the_demo_writes_emails_lists_each_one_and_summarises_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # var/ lands here
    console = Console(file=io.StringIO(), width=160, record=True)

    counted = samples(exposition.render(exposition.Scrape()).decode())  # this process's so far
    run = run_demo(customers=60, seed=7, console=console)

    outbox = tmp_path / "var" / "demo-outbox"  # its own: a real run's is var/outbox
    emails = sorted(outbox.glob("*.eml"))
    assert emails
    assert run.emails == len(emails)
    index = (outbox / "index.html").read_text(encoding="utf-8")
    for path in emails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        # As a mail client shows it: the folded header unfolded, without the fold's whitespace.
        subject = " ".join(str(message["Subject"]).split())
        assert f">{escape(subject)}</a>" in index
        assert f'href="html/{path.stem}.html"' in index
        page = (outbox / "html" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert page.startswith("<!doctype html>")
    summary = console.export_text()
    for name in (
        "thank_you",
        "upsell",
        "win_back",
        "whats_new",
        "whats_new_b",
        "coffee_tips_3",
        "points_earned",
    ):
        assert name in summary
    # The coffee tips series: each step's row, its third step sent to someone.
    steps = [line for line in summary.splitlines() if re.match(r"^\W*coffee-tips\W", line)]
    assert [line.split()[3] for line in steps] == [
        "coffee_tips_1",
        "coffee_tips_2",
        "coffee_tips_3",
    ]
    assert int(steps[2].split()[5]) > 0
    # The monthly what's-new went out in each of the last three months, by A/B variant.
    runs = [line for line in summary.splitlines() if re.match(r"^\W*whats-new\W+\d{4}-", line)]
    assert [line.split()[5] for line in runs] == ["resolved"] * 3 + ["scheduled"], runs
    # The points-and-tiers programme ran: orders earned, and its emails went out.
    [earned] = [line for line in summary.splitlines() if "ledger: earn" in line]
    assert int(re.findall(r"\d+", earned)[0]) > 0
    [sent] = [line for line in summary.splitlines() if "loyalty emails sent" in line]
    assert int(re.findall(r"\d+", sent)[0]) > 0
    assert any("tier moves up" in line for line in summary.splitlines())
    # Points became rewards with the pool's codes, and customers used some at their next order.
    [redeemed] = [line for line in summary.splitlines() if "rewards five-off: redeemed" in line]
    assert int(re.findall(r"\d+", redeemed)[-1]) > 0
    # The sent table's total row counts exactly the emails written to the outbox.
    # (The lift table's "all marketing" row starts with "all" too: its group says "mailed".)
    (total_row,) = [
        line
        for line in summary.splitlines()
        if re.match(r"^\W*all\b", line) and "mailed" not in line
    ]
    assert re.findall(r"\d+", total_row)[-1] == str(len(emails))
    assert str(outbox / "index.html") in summary
    # It ends with the report: what each trigger earned, and what the holdouts show: no trigger
    # of the demo holds anyone out, and a tenth of the shop is the global holdout, against which
    # the whole programme is measured, with its interval (and drawn).
    assert "what they earned" in summary
    flat = " ".join(summary.translate(str.maketrans("│┃", "  ")).split())
    assert "lift: mailed against held out" in flat
    verdict = r"all marketing: (Too few to tell|No difference shown|Mailing (raised|lowered))"
    assert re.search(verdict, flat), flat
    report = (tmp_path / "var" / "demo-report.html").read_text(encoding="utf-8")
    assert report.startswith("<!doctype html>") and "thank-you" in report
    assert 'aria-label="lift of each holdout: 1 holdouts' in report
    # What customers are worth: the CLV fit, CLV:CAC against the demo's spend, ABC classes.
    for said in ("CLV models as of", "value per segment", "what winning a customer cost",
                 "A new customer costs", "ABC classes"):  # fmt: skip
        assert said in " ".join(summary.split()), said
        assert said in " ".join(report.split()), said
    # How customers moved on the ladder over the last year, the goals, retention and churn.
    words = " ".join(summary.translate(str.maketrans("│┃", "  ")).split())
    for said in ("where each rung's customers went", "ladder migration by quarter",
                 "migration goals", "retention by first-order month",
                 "churn and repeat"):  # fmt: skip
        assert said in words, said
    moved = re.search(r" total ([\d,]+) (\d+)% (\d+)% (\d+)% (\d+)% ", words)
    assert moved is not None and int(moved.group(1).replace(",", "")) > 0, words
    assert int(moved.group(5)) > 0  # some lapsed
    quarters = re.findall(r" \d{4}-Q\d [\d,]+ (\d+)% ", words)
    assert any(int(up) > 0 for up in quarters), quarters  # and some climbed
    assert re.search(r" (met|missed|on track|behind) ", words)
    assert "<h2>Ladder migration" in report and "<h2>Cohort retention" in report
    # The programme measured: members against non-members, the rewards it cost.
    assert "members against non-members who bought before it" in words
    for said in ("the programme's cost and incremental revenue (EUR)",
                 "cost: rewards redeemed", "points left at the end: liability"):  # fmt: skip
        assert said in words, said
        assert escape(said) in report, said

    # The shop's history ends today, and the summary says how the other commands see it.
    assert run.end.date() == datetime.now(UTC).date()
    [line] = [line for line in summary.splitlines() if "export DATABASE_URL=" in line]
    variables = dict(part.split("=", 1) for part in line.split()[1:])
    env = {**os.environ, **variables}
    env.pop("REDIS_URL", None)
    env.pop("BROKER_URL", None)
    status = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    sent_row = re.search(r"│ sent\s+│\s+(\d+) │", status.stdout)
    assert sent_row is not None, status.stdout
    assert int(sent_row.group(1)) == len(emails)

    # GET /metrics on the demo's database shows the run (deploy/grafana/ladder.json's panels),
    # and the demo's process counted each email it sent as it sent it.
    demo_db = Settings(database_url=variables["DATABASE_URL"], email_backend=EmailBackend.FILE)
    with TestClient(create_app(demo_db)) as client:
        scraped = samples(client.get("/metrics").text)
    assert value(scraped, "ladder_deliveries", status="sent") == len(emails)
    assert value(scraped, "ladder_deliveries_by_message", message="thank_you", status="sent") > 0
    assert value(scraped, "ladder_events", status="processed") > 0
    assert value(scraped, "ladder_queue_lag_seconds") == 0  # every event processed
    decided = "ladder_deliveries_decided_total"
    grown = value(scraped, decided, status="sent") - value(counted, decided, status="sent")
    assert grown == len(emails)

    # Each customer with consent got each run once, due at 10:00 in their own zone.
    with session(f"sqlite:///{tmp_path / 'var' / 'demo.db'}") as db:
        rows = db.execute(
            select(Delivery, Customer)
            .join(Customer, col(Customer.id) == Delivery.customer_id)
            .where(col(Delivery.broadcast_run_id).is_not(None))
        ).all()
    assert rows
    per_run = Counter((d.broadcast_run_id, d.customer_id) for d, _ in rows)
    assert set(per_run.values()) == {1}
    for delivery, customer in rows:
        zone = ZoneInfo(customer.timezone or "UTC")
        assert delivery.due_at is not None
        assert delivery.due_at.astimezone(zone).time() == time(10, 0)
        if customer.accepts_marketing and delivery.status == "sent":
            assert delivery.sent_at is not None and delivery.sent_at >= delivery.due_at
        if not customer.accepts_marketing:
            assert delivery.status != "sent"


@pytest.mark.commits  # the replay's worker threads write on their own connections
def test_the_replay_stops_at_its_end_even_with_events_after_it(
    runtime: Runtime,  # noqa: ARG001  (the actors' settings: this test's database)
    db: Session,
) -> None:
    """The demo's shop ran eight days past today: a refund generated after the last order kept
    the clock going TAIL after it, mailing customers on dates still to come."""
    until = datetime.now(UTC).replace(microsecond=0)
    late = until + timedelta(days=8)
    events = [
        order_event(event_id="o-1", order_id="1", at=until - timedelta(days=3)),
        order_event(event_id="o-1-r", order_id="1", at=late, type="order.refunded"),
    ]
    with replay.private_broker(threads=1) as broker:
        period = replay.replay(db, events, broker=broker, runtime=get_runtime(), until=until)

    assert period.end == until
    stored = db.exec(select(Event)).all()
    assert [event.source_event_id for event in stored] == ["o-1"]
