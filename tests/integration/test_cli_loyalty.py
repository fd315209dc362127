"""`ladder loyalty statement` and `adjust`: a member's ledger as an operator reads it, and a
correction that says why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from tests.integration.test_loyalty_ledger import handle, programme_runs
from worker import current_time
from worker.cli import app
from worker.runtime import Runtime

__all__ = ["programme_runs"]  # the autouse fixture: the shop runs the shipped programme

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.commits  # the commands open their own sessions


def a_member(db: Session, runtime: Runtime) -> None:
    handle(
        db, runtime, at=T0, event_id="o-1", order_id="1", total="120.00", email="lena@example.com"
    )
    db.commit()
    current_time.freeze(T0)


def test_adjust_adds_points_with_its_reason_and_the_statement_shows_them(
    db: Session, runtime: Runtime
) -> None:
    a_member(db, runtime)
    runner = CliRunner()

    done = runner.invoke(
        app, ["loyalty", "adjust", "lena@example.com", "25", "--reason", "late parcel"]
    )
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "customer 1: +25 points; 25 to spend now"

    shown = runner.invoke(app, ["loyalty", "statement", "lena@example.com"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert " ".join(shown.output.split()).startswith(
        "customer 1: 25 points to spend, 120 pending; tier member; 130.00 EUR to silver (48 %)"
    )
    assert "order:1:earn" in shown.output and "late parcel" in shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80

    as_json = json.loads(
        runner.invoke(app, ["loyalty", "statement", "lena@example.com", "--json"]).output
    )
    assert (as_json["points"], as_json["pending"], as_json["tier"]) == (25, 120, "member")
    assert [(e["kind"], e["points"], e["pending"]) for e in as_json["entries"]] == [
        ("earn", 0, 120),
        ("adjust", 25, 0),
    ]


def test_an_adjustment_retried_with_its_key_counts_once_and_a_missing_reason_is_refused(
    db: Session, runtime: Runtime
) -> None:
    a_member(db, runtime)
    runner = CliRunner()
    # A negative amount goes after `--`, as for any command line.
    command = [
        "loyalty",
        "adjust",
        "--reason",
        "typo",
        "--key",
        "t-1",
        "lena@example.com",
        "--",
        "-10",
    ]

    assert runner.invoke(app, command).exit_code == 0
    again = runner.invoke(app, command)
    assert again.exit_code == 1
    assert "was made before" in again.output

    empty = runner.invoke(app, ["loyalty", "adjust", "lena@example.com", "5", "--reason", " "])
    assert empty.exit_code == 1
    assert "Error: the reason is empty." in empty.output

    unknown = runner.invoke(app, ["loyalty", "statement", "nobody@example.com"])
    assert unknown.exit_code == 1
    as_json = json.loads(
        runner.invoke(app, ["loyalty", "statement", "lena@example.com", "--json"]).output
    )
    assert as_json["points"] == -10
