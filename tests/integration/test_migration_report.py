"""`ladder report migration|cohorts|churn`: the ladder's matrix for a past period, the goals'
progress, retention and churn, as a shop reads them (80 columns, JSON, the HTML heatmap)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from tests.integration.test_rungs import apply, orders
from worker import current_time
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.cli import app
from worker.measurement import rungs
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT

pytestmark = pytest.mark.commits  # the CLI reads the shop on its own connection

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 4, 1, tzinfo=UTC)
GOALS = """
[[goal]]
name = "second orders"
from = "first_time"
to = "repeat"
share = 0.4
start = 2026-01-01
deadline = 2026-04-01
triggers = ["second-order"]

[[goal]]
name = "champions"
from = "loyal"
to = "champion"
share = 0.5
start = 2026-01-01
within = "180d"

[[goal]]
name = "loyal by March"
from = "first_time"
to = "loyal"
share = 0.5
start = 2026-01-01
deadline = 2026-03-01
"""


@pytest.fixture
def shop(
    db: Session,
    runtime: Runtime,  # noqa: ARG001  (its settings first; this fixture's on top of them)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Runtime:
    """Before the quarter: Ana and Cy bought once, Bo four times (loyal, the last 40 days
    before it). In it: Ana's second order, Dee's first; the refresh near its end finds Bo
    quiet 125 days (at risk), Cy 90 (still a first-timer)."""
    folder = tmp_path / "measurement"
    folder.mkdir()
    shutil.copyfile(PROJECT_ROOT / "measurement" / "rungs.toml", folder / "rungs.toml")
    (folder / "goals.toml").write_text(GOALS, encoding="utf-8")
    monkeypatch.setenv("MEASUREMENT_DIR", str(folder))
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    here = runtime_module.get_runtime()
    at = T0 - timedelta(days=10)
    apply(db, here, orders("ana@example.com", [0], now=at), now=at)
    at = T0 - timedelta(days=40)
    apply(db, here, orders("bo@example.com", [90, 60, 30, 0], now=at), now=at)
    at = T0 - timedelta(days=5)
    apply(db, here, orders("cy@example.com", [0], now=at), now=at)
    at = T0 + timedelta(days=20)
    apply(db, here, orders("ana@example.com", [0], now=at), now=at)
    at = T0 + timedelta(days=10)
    apply(db, here, orders("dee@example.com", [0], now=at), now=at)
    assert here.rung_scheme is not None
    rungs.refresh(db, here.rung_scheme, now=T0 + timedelta(days=85), currency="EUR")
    current_time.freeze(T1)
    return here


def report(*args: str) -> Any:
    done = CliRunner().invoke(app, ["report", *args], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    return done.output


@pytest.mark.usefixtures("shop")
def test_the_matrix_of_a_past_quarter_shows_who_moved_where_and_what_they_spent() -> None:
    found = json.loads(report("migration", "--since", "2026-01-01", "--until", "2026-04-01",
                              "--json"))["migration"]  # fmt: skip

    cells = {(c["from"], c["to"]): (c["customers"], c["revenue_minor"], c["kind"])
             for c in found["cells"]}  # fmt: skip
    assert cells == {
        ("first_time", "repeat"): (1, 3000, "up"),  # Ana came back
        ("first_time", "first_time"): (1, 0, "stayed"),  # Cy
        ("loyal", "at_risk"): (1, 0, "lapsed"),  # Bo went quiet
        (None, "first_time"): (1, 3000, "joined"),  # Dee, new in the quarter
    }
    assert found["on_ladder"] == 3 and found["joined"] == 1
    assert found["shares"] == {"up": 1 / 3, "stayed": 1 / 3, "down": 0.0, "lapsed": 1 / 3}
    goals = {g["name"]: (g["cohort"], g["reached"], g["status"]) for g in found["goals"]}
    assert goals == {
        "second orders": (2, 1, "met"),  # 50 % of Ana and Cy, 40 % asked
        "champions": (1, 0, "behind"),  # half its time gone, none of one
        "loyal by March": (2, 0, "missed"),
    }


@pytest.mark.usefixtures("shop")
def test_the_matrix_as_of_before_the_quarter_knows_only_who_was_placed_then() -> None:
    found = json.loads(report("migration", "--since", "2025-12-01", "--until", "2026-01-01",
                              "--json"))["migration"]  # fmt: skip

    cells = {(c["from"], c["to"]): c["customers"] for c in found["cells"]}
    assert cells == {(None, "first_time"): 2, ("loyal", "loyal"): 1}  # Bo, loyal since November


@pytest.mark.usefixtures("shop")
def test_the_migration_tables_fit_80_columns_and_say_each_share_and_goal() -> None:
    shown = report("migration", "--since", "2026-01-01", "--until", "2026-04-01", "--by", "month")

    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    words = " ".join(shown.translate(str.maketrans("│┃", "  ")).split())
    assert "first_ from prospect time repeat loyal champion lapsing at_risk" in words
    assert "first_time 1 1" in words and "loyal 1" in words  # the counts' matrix
    assert "total 3 33% 33% 0% 33% 60.00" in words  # up, stayed, down, lapsed; revenue
    assert "2026-03 4 0% 75% 0% 25% 0" in words  # by month: Bo lapsed in March
    assert "2 1 50.0% 40% 2026-04-01 met" in words
    assert "1 0 0.0% 50% 2026-06-30 behind" in words
    assert "2 0 0.0% 50% 2026-03-01 missed" in words
    assert "Triggers working for each goal: second orders: second-order." in words


@pytest.mark.usefixtures("shop")
def test_cohorts_and_churn_count_the_first_orders_months_and_who_went_quiet() -> None:
    found = json.loads(report("cohorts", "--since", "2025-12-01", "--until", "2026-04-01",
                              "--json"))["cohorts"]  # fmt: skip
    # Ana (first order 2025-12-22) ordered again in January; Cy (12-27) did not.
    assert found[0]["month"] == "2025-12" and found[0]["customers"] == 2
    assert found[0]["retention"]["1"] == 0.5 and found[0]["retention"]["2"] == 0.0

    churn = json.loads(report("churn", "--since", "2026-01-01", "--until", "2026-04-01",
                              "--json", "--by", "quarter"))["churn"]  # fmt: skip
    quarter = churn["periods"][0]
    # Active at the start: Ana, Bo, Cy; none of them without an order in the 180 days to April.
    assert (quarter["active"], quarter["churned"]) == (3, 0)
    assert (quarter["buyers"], quarter["repeat_buyers"]) == (2, 1)  # Ana again, Dee new
    assert quarter["mean_gap_days"] == pytest.approx(30.0)  # Ana: 22 Dec to 21 Jan
    # Ana's 30.00 alone is half of the 60.00: both are needed to make 80 %.
    assert churn["pareto"] == {"buyers": 2, "top": 2, "share": 1.0, "revenue_minor": 6000}


@pytest.mark.usefixtures("shop")
def test_the_html_page_draws_the_matrix_as_a_heatmap(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    report("migration", "--since", "2026-01-01", "--until", "2026-04-01", "--html", str(page))

    html = page.read_text(encoding="utf-8")
    assert "<h2>Ladder migration 2026-01-01 to 2026-04-01: from (rows) to (columns)</h2>" in html
    assert 'title="50% of the row">1</td>' in html  # first_time: one of two moved up
    assert "<script" not in html and "http" not in html.split("<body")[0]
