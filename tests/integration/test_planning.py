"""`ladder plan`: what the trigger files would send over the next days, without sending."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update
from sqlmodel import col, select
from typer.testing import CliRunner

from models import Customer, Delivery
from worker import current_time
from worker.authoring.planning import plan
from worker.cli import app
from worker.cli.authoring import print_plan
from worker.demo.time_machine import time_machine
from worker.measurement.assignment import in_global_holdout
from worker.runtime import Runtime

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_plan_counts_who_would_enter_each_trigger_and_what_would_go_out(
    runtime: Runtime,  # noqa: ARG001
) -> None:
    with time_machine(T0) as machine:
        machine.happen(
            machine.order_placed("ana@example.com", locale="es", birthday="1990-12-05"),
            machine.order_placed("bo@example.com"),
            machine.order_placed("cy@example.com", accepts_marketing=False),
        )
        machine.advance(timedelta(days=1))
        db = machine.db
        # Bo becomes the best customer: tomorrow's refresh would move him up to champions.
        db.execute(
            update(Customer)
            .where(col(Customer.email) == "bo@example.com")
            .values(orders_count=12, total_spent=300_000, last_order_at=machine.now)
        )
        db.commit()
        before = len(db.exec(select(Delivery)).all())
        found = plan(
            db, triggers=machine.runtime.triggers, settings=machine.runtime.settings,
            now=machine.now, days=30,
        )  # fmt: skip
        assert len(db.exec(select(Delivery)).all()) == before  # nothing was scheduled or sent
        ana = db.exec(select(Customer).where(col(Customer.email) == "ana@example.com")).one()
        bo = db.exec(select(Customer).where(col(Customer.email) == "bo@example.com")).one()
        cy = db.exec(select(Customer).where(col(Customer.email) == "cy@example.com")).one()

    # The three first orders again in the next 30 days; Bo's is no first order any more.
    assert found.entering["thank-you"] == {ana.id, cy.id}
    assert found.no_consent["thank-you"] == 1  # Cy has not said yes to marketing
    assert found.entering["second-order"] == set()  # 21 days after a replayed order: too late
    assert found.entering["birthday"] == {ana.id}  # 5 December is within the 30 days
    assert found.entering["holiday-card"] == {ana.id, bo.id, cy.id}  # 20 December: buyers
    assert found.entering["moved-up"] == {bo.id}  # the only move the next refresh would make
    assert found.entering["win-back"] == set()  # listed, though nobody would enter
    per_trigger = dict.fromkeys(found.entering, 0)
    for (name, _, _), count in found.emails.items():
        per_trigger[name] += count
    assert per_trigger["thank-you"] == 1
    assert per_trigger["holiday-card"] == 2
    assert per_trigger["birthday"] + found.held_out["birthday"] == 1
    # Bo's moved-up is due at 10:00 today, less than a day after yesterday's 12:00 thank-you:
    # the budget (1 a day) defers it to 12:00, well within its max lateness.
    assert found.deferred == {"moved-up": 1}
    assert sum(found.skipped.values()) == 0
    assert ("thank-you", ana.segment or "-", "es") in found.emails

    console = Console(record=True, width=200)
    print_plan(found, console)
    text = console.export_text()
    assert "ladder plan: the next 30 days" in text
    assert "moved-up" in text
    assert date(2026, 12, 5).isoformat() not in text  # counts, not personal data


def test_the_plan_and_explain_commands_print_their_tables(runtime: Runtime) -> None:  # noqa: ARG001
    with time_machine(T0) as machine:
        machine.happen(machine.order_placed("ana@example.com"))
    current_time.freeze(T0 + timedelta(days=1))  # the runtime fixture unfreezes it
    runner = CliRunner()

    planned = runner.invoke(app, ["plan", "--days", "7"])
    explained = runner.invoke(app, ["explain", "ana@example.com"])
    unknown = runner.invoke(app, ["explain", "nobody@example.com"])

    assert planned.exit_code == 0, planned.output
    assert "thank-you" in planned.output
    assert explained.exit_code == 0, explained.output
    assert "timeline (UTC)" in explained.output
    assert "matched" in explained.output
    assert unknown.exit_code == 1
    assert "Error: no customer with the address 'nobody@example.com'." in unknown.output


@pytest.mark.parametrize("command", [["plan", "--days", "7"], ["explain", "ana@example.com"]])
def test_plan_and_explain_fit_80_columns_without_cutting_names_or_times(
    runtime: Runtime,  # noqa: ARG001
    command: list[str],
) -> None:
    with time_machine(T0) as machine:
        machine.happen(machine.order_placed("ana@example.com"))
    current_time.freeze(T0 + timedelta(days=1))
    done = CliRunner().invoke(app, command, env={"COLUMNS": "80"}, terminal_width=80)
    assert done.exit_code == 0, done.output
    assert max(len(line) for line in done.output.splitlines()) <= 80
    assert "…" not in done.output
    if command[0] == "explain":
        assert f"{T0:%Y-%m-%d %H:%M}" in done.output  # a time whole, on one line
        assert "order.placed" in done.output.replace("\n", "")


def test_plan_reads_send_if_on_todays_facts_and_counts_the_global_holdout(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
) -> None:
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    (triggers / "vip.toml").write_text(
        'name = "vip-note"\nmessage = "thank_you"\non = "order.placed"\n'
        "send_if = \"customer.segment == 'champions'\"\n",
        encoding="utf-8",
    )
    people = [f"c{i}@example.com" for i in range(40)]
    settings = {"TRIGGERS_DIR": str(triggers), "GLOBAL_HOLDOUT": "0.25"}
    with time_machine(T0, settings=settings) as machine:
        machine.happen(*(machine.order_placed(email) for email in people))
        machine.advance(timedelta(hours=1))
        db = machine.db
        db.execute(
            update(Customer).where(col(Customer.email) == people[0]).values(segment="champions")
        )
        db.commit()
        found = plan(
            db, triggers=machine.runtime.triggers, settings=machine.runtime.settings,
            now=machine.now, days=30,
        )  # fmt: skip
        ids = {c.email: c.id for c in db.exec(select(Customer)).all()}

    held = {email for email in people if in_global_holdout(ids[email] or 0, 0.25)}
    assert 0 < len(held) < len(people)
    assert found.held_out["vip-note"] == len(held)  # no marketing at all for them
    champion = 0 if people[0] in held else 1
    assert sum(n for (name, _, _), n in found.emails.items() if name == "vip-note") == champion
    assert found.not_send_if["vip-note"] == len(people) - len(held) - champion
    console = Console(record=True, width=80)
    print_plan(found, console)
    assert "send_if" in console.export_text()
