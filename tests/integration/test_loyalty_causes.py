"""Points given to a cause: from the command line and from the customer's page (its form's
signed token, same origin only), spent by a ledger entry, once per request, and summed per
cause in `ladder loyalty causes` and the widget's JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from models import Customer
from tests.integration.test_loyalty_page import path_of
from tests.integration.test_loyalty_rewards import customer_id
from tests.support.factories import order_event
from tests.support.web import TestClient
from worker import current_time
from worker.cli import app as cli
from worker.delivery.composing import loyalty_url
from worker.intake.ingest import store_events
from worker.loyalty import donations, ledger
from worker.privacy import erasure, exports
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app and the CLI read on their own connections

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
ANA, BEA = "ana@example.com", "bea@example.com"


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-causes")


def member(db: Session, runtime: Runtime, email: str, points: int) -> int:
    """A customer with an order and `points` to spend, given by hand."""
    programme = runtime.programme
    assert programme is not None
    ids = store_events(
        db, [order_event(at=T0, event_id=f"o-{email}", order_id=email, email=email)], now=T0
    ).stored
    scheduler = Scheduler(runtime.triggers, runtime.settings, programme=programme)
    process_many(db, ids, now=T0, scheduler=scheduler)
    who = customer_id(db, email)
    ledger.adjust(db, customer_id=who, points=points, reason="welcome", key=email, now=T0)
    db.commit()
    current_time.freeze(T0 + timedelta(hours=1))
    return who


def balance(db: Session, who: int) -> int:
    found = ledger.statement_of(db, who, entries=False).member
    db.rollback()  # SQLite: end the read
    assert found is not None
    return found.points


def test_donations_from_the_command_line_spend_points_once_and_sum_per_cause(
    db: Session, runtime: Runtime
) -> None:
    ana, bea = member(db, runtime, ANA, 300), member(db, runtime, BEA, 100)
    runner = CliRunner()

    first = runner.invoke(cli, ["loyalty", "donate", ANA, "120", "--cause", "trees", "--key", "k1"])
    again = runner.invoke(cli, ["loyalty", "donate", ANA, "120", "--cause", "trees", "--key", "k1"])
    runner.invoke(cli, ["loyalty", "donate", BEA, "80", "--cause", "trees"])
    runner.invoke(cli, ["loyalty", "donate", ANA, "30", "--cause", "water"])
    too_much = runner.invoke(cli, ["loyalty", "donate", BEA, "21", "--cause", "water"])
    unknown = runner.invoke(cli, ["loyalty", "donate", BEA, "1", "--cause", "whales"])
    totals = runner.invoke(cli, ["loyalty", "causes", "--json"])
    table = runner.invoke(cli, ["loyalty", "causes"])

    assert first.exit_code == 0, first.output
    assert "120 points given to trees; 180 to spend now" in first.output
    assert again.exit_code == 1 and "the donation 'k1' was made before" in again.output
    assert too_much.exit_code == 1 and "21 points asked, 20 to spend" in too_much.output
    assert unknown.exit_code == 1 and "no cause is called 'whales'" in unknown.output
    assert (balance(db, ana), balance(db, bea)) == (150, 20)
    assert json.loads(totals.output)["causes"] == [
        {"name": "trees", "title": "A tree planted for every 100 points", "points": 200,
         "donors": 2},
        {"name": "water", "title": "Clean water for tea farms", "points": 30, "donors": 1},
    ]  # fmt: skip
    assert re.search(r"trees .* 200 .* 2", table.output)
    statement = runner.invoke(cli, ["loyalty", "statement", ANA, "--json"])
    donated = [e for e in json.loads(statement.output)["entries"] if e["kind"] == "donate"]
    assert [(e["points"], e["reason"]) for e in donated] == [(-120, "trees"), (-30, "water")]


def form_token(html: str) -> str:
    found = re.search(r"name='token' value='([^']+)'", html)
    assert found is not None, "the page has no donation form"
    return found[1]


def test_the_page_gives_points_with_its_form_once_per_form_and_the_widget_shows_the_total(
    db: Session, runtime: Runtime
) -> None:
    ana = member(db, runtime, ANA, 300)
    page = path_of(loyalty_url(runtime.settings, ana))
    client = TestClient(create_app(runtime.settings))
    shown = client.get(page)
    assert "<li id='cause-trees'>A tree planted for every 100 points" in shown.text
    token = form_token(shown.text)
    form = {"token": token, "cause": "trees", "points": "100"}

    given = client.post(f"{page}/donate", data=form)
    clicked_twice = client.post(f"{page}/donate", data=form)
    widget = client.get(f"{page}/widget.json")

    assert given.status_code == 200 and clicked_twice.status_code == 200
    assert (
        "<p id='answer'>Thank you: 100 points given to A tree planted for every 100 points.</p>"
        in given.text
    )
    assert balance(db, ana) == 200  # the second click gave nothing more
    assert widget.json()["causes"][0] == {
        "name": "trees",
        "title": "A tree planted for every 100 points",
        "points": 100,
        "donors": 1,
    }
    assert widget.json()["points"] == 200
    assert "100 points given so far" in client.get(page).text


def test_a_donation_without_the_form_s_token_or_from_another_site_is_refused(
    db: Session, runtime: Runtime
) -> None:
    ana, bea = member(db, runtime, ANA, 300), member(db, runtime, BEA, 300)
    ana_page = path_of(loyalty_url(runtime.settings, ana))
    bea_page = path_of(loyalty_url(runtime.settings, bea))
    client = TestClient(create_app(runtime.settings))
    token = form_token(client.get(ana_page).text)

    missing = client.post(f"{ana_page}/donate", data={"cause": "trees", "points": "10"})
    elsewhere = client.post(
        f"{ana_page}/donate",
        data={"token": token, "cause": "trees", "points": "10"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    # Ana's form's token does not count for Bea's page.
    crossed = client.post(
        f"{bea_page}/donate", data={"token": token, "cause": "trees", "points": "10"}
    )
    too_much = client.post(
        f"{ana_page}/donate", data={"token": token, "cause": "trees", "points": "301"}
    )

    assert [missing.status_code, elsewhere.status_code, crossed.status_code] == [403, 403, 403]
    assert too_much.status_code == 422 and "You have 300 points to give." in too_much.text
    assert (balance(db, ana), balance(db, bea)) == (300, 300)


def test_the_export_holds_the_donations_and_forgetting_the_donor_keeps_the_cause_s_total(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    ana = member(db, runtime, ANA, 300)
    programme = runtime.programme
    assert programme is not None
    donations.donate(db, programme, customer_id=ana, cause="water", points=40, key="k", now=T0)
    db.commit()
    customer = db.get(Customer, ana)
    assert customer is not None

    path = exports.export(db, customer, source="cli", reference=None, now=T0, into=tmp_path)
    held = json.loads(path.read_text())["loyalty"]
    erasure.forget(db, customer, source="cli", reference=None, now=T0, settings=runtime.settings)
    db.commit()

    donated = [entry for entry in held["ledger"] if entry["kind"] == "donate"]
    assert [(e["points"], e["reason"]) for e in donated] == [(-40, "water")]
    assert held["sweepstake_entries"] == []
    assert donations.totals(db, programme)[1] == ("water", "Clean water for tea farms", 40, 1)
