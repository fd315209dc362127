"""`ladder report clv|value|abc|nps`: what customers are worth and say, as a shop reads it."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from tests.integration.test_predictions import NOW, shop_history
from worker import current_time
from worker.audience import segments
from worker.cli import app
from worker.measurement import abc, predictions
from worker.runtime import Runtime

# The CLI reads the shop on its own connection.
pytestmark = pytest.mark.commits


@pytest.fixture
def shop(db: Session, runtime: Runtime) -> None:
    shop_history(db, runtime)
    segments.refresh(db, NOW)
    predictions.refresh(db, now=NOW, horizon_days=365)
    abc.classify(db, now=NOW, scheme=abc.Scheme())
    current_time.freeze(NOW)


@pytest.mark.usefixtures("shop")
def test_report_clv_json_prints_the_fitted_parameters_and_each_customers_prediction() -> None:
    done = CliRunner().invoke(app, ["report", "clv", "--json", "--as-of", "2026-06-01"])

    assert done.exit_code == 0, done.output
    found = json.loads(done.output)["clv"]
    assert found["as_of"] == "2026-06-01" and found["problem"] is None
    assert set(found["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood"}
    assert len(found["predictions"]) == 40  # every customer who bought
    assert all(0 <= p["p_alive"] <= 1 for p in found["predictions"])


@pytest.mark.usefixtures("shop")
def test_report_clv_as_of_a_day_before_the_shop_had_customers_says_why_it_has_no_fit() -> None:
    done = CliRunner().invoke(app, ["report", "clv", "--as-of", "2024-01-01"])

    assert done.exit_code == 0, done.output
    assert "not fitted: 0 customers, 0 with a repeat purchase" in " ".join(done.output.split())


@pytest.mark.usefixtures("shop")
def test_report_value_abc_and_nps_print_tables_that_fit_80_columns() -> None:
    for section, said in (
        ("value", "value per segment"),
        ("abc", "ABC classes"),
        ("nps", "NPS: no answers in the period."),
    ):
        done = CliRunner().invoke(app, ["report", section], env={"COLUMNS": "80"})
        assert done.exit_code == 0, done.output
        assert said in done.output
        assert max(len(line) for line in done.output.splitlines()) <= 80, done.output
    value = CliRunner().invoke(app, ["report", "value"], env={"COLUMNS": "80"}).output
    assert "measurement/acquisition.toml" in " ".join(value.split())  # no spend known yet
    classes = CliRunner().invoke(app, ["report", "abc", "--json"]).output
    assert sum(c["customers"] for c in json.loads(classes)["abc"]) == 40
