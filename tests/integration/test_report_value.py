"""`ladder report clv|value|abc|nps`: what customers are worth and say, as a shop reads it."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from models import Customer
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
def test_report_clv_without_a_day_reads_the_clocks_weekly_fit_and_its_predictions(
    db: Session,
) -> None:
    fitted = json.loads(
        CliRunner().invoke(app, ["report", "clv", "--json", "--as-of", "2026-06-01"]).output
    )["clv"]

    done = CliRunner().invoke(app, ["report", "clv", "--json"])

    weekly = json.loads(done.output)["clv"]
    assert (weekly["stored"], fitted["stored"]) == (True, False)
    assert weekly["as_of"] == "2026-06-01"  # the clock's refresh, as of NOW
    assert weekly["bgnbd"] == pytest.approx(fitted["bgnbd"])
    assert weekly["gamma_gamma"] == pytest.approx(fitted["gamma_gamma"])
    written = {c.id: c.clv for c in db.exec(select(Customer)).all() if c.clv is not None}
    db.rollback()  # SQLite: the test's transaction would hold the command's lock
    assert {p["customer_id"]: p["predicted_value_minor"] for p in weekly["predictions"]} == written
    shown = CliRunner().invoke(app, ["report", "clv"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output + repr(shown.exception)
    assert "CLV models as of 2026-06-01 (the weekly fit, 40 customers)" in shown.output


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
