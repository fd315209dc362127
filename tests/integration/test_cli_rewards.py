"""`ladder loyalty codes import`, `ladder loyalty rewards` and the statement's rewards: what an
operator sees of the pools, the rewards given and those refused, with the reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update
from sqlmodel import Session
from typer.testing import CliRunner

from models.tables import CUSTOMERS
from tests.integration.test_loyalty_ledger import handle, programme_runs
from tests.integration.test_loyalty_rewards import PROGRAMME
from tests.support.webhooks import FIXTURES
from worker import current_time
from worker.cli import app
from worker.loyalty import fairplay
from worker.runtime import Runtime

__all__ = ["programme_runs"]  # the autouse fixture: the shop runs the shipped programme

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SHOPIFY_EXPORT = FIXTURES / "codes" / "shopify_discount_codes.csv"

pytestmark = pytest.mark.commits  # the commands open their own sessions


def words(text: str) -> str:
    return " ".join(text.split())


def rows(output: str) -> list[list[str]]:
    """The cells of each row rich drew, a wrapped row's lines joined back into one."""
    found: list[list[str]] = []
    for line in output.splitlines():
        if not line.strip().startswith(("│", "┃")):
            continue
        cells = [
            cell.strip() for cell in line.strip().strip("│┃").split("│" if "│" in line else "┃")
        ]
        if found and not cells[0] and line.strip().startswith("│"):
            joined = zip(found[-1], cells, strict=True)
            found[-1] = [
                f"{a}{'' if a.endswith(('@', '-')) or not b else ' '}{b}".strip() for a, b in joined
            ]
        else:
            found.append(cells)
    return found


def test_codes_imported_from_shopifys_export_become_rewards_the_operator_can_list(
    db: Session, runtime: Runtime
) -> None:
    handle(
        db, runtime, at=T0, event_id="o-1", order_id="1", total="20.00", email="lena@example.com"
    )
    db.commit()
    current_time.freeze(T0)
    runner = CliRunner()

    imported = runner.invoke(
        app, ["loyalty", "codes", "import", str(SHOPIFY_EXPORT), "--reward", "five-off"]
    )
    assert imported.exit_code == 0, imported.output
    assert words(imported.output) == (
        "3 codes added to the five-off pool from a shopify export; 0 waiting rewards got one;"
        " 3 free now"
    )
    again = runner.invoke(
        app, ["loyalty", "codes", "import", str(SHOPIFY_EXPORT), "--reward", "five-off"]
    )
    assert "0 codes added to the five-off pool from a shopify export (3 known already)" in words(
        again.output
    )

    adjusted = runner.invoke(
        app, ["loyalty", "adjust", "lena@example.com", "600", "--reason", "welcome gift"]
    )
    assert words(adjusted.output) == (
        "customer 1: +600 points; 100 to spend now; 1 reward unlocked (ladder loyalty rewards)"
    )

    listed = runner.invoke(app, ["loyalty", "rewards"], env={"COLUMNS": "80"})
    assert listed.exit_code == 0, listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80
    assert rows(listed.output) == [
        ["customer", "reward", "code", "state"],
        ["lena@example.com", "five-off", "WELCOME-7H2K", "unlocked 2026-03-01, until 2026-05-30"],
    ]
    assert "code pools: five-off 2 free, 1 given" in words(listed.output)

    as_json = json.loads(runner.invoke(app, ["loyalty", "rewards", "--json"]).output)
    assert [
        (r["email"], r["reward"], r["state"], r["code"], r["points"]) for r in as_json["rewards"]
    ] == [("lena@example.com", "five-off", "unlocked", "WELCOME-7H2K", 500)]
    assert as_json["pools"] == {"five-off": [2, 1]}


def test_a_refused_birthday_reward_shows_its_reason_in_rewards_and_the_statement(
    db: Session, runtime: Runtime
) -> None:
    handle(
        db, runtime, at=T0, event_id="o-1", order_id="1", total="20.00", email="lena@example.com"
    )
    db.execute(update(CUSTOMERS).values(birthday=date(1991, 3, 10), birthday_set_at=T0))
    db.commit()
    fairplay.birthday_rewards(db, PROGRAMME, day=date(2026, 3, 10), now=T0)
    current_time.freeze(T0)
    runner = CliRunner()
    reason = "birthday given on 2026-03-01, less than 30 days before it"

    listed = runner.invoke(app, ["loyalty", "rewards", "--state", "refused"], env={"COLUMNS": "80"})
    assert rows(listed.output)[1:] == [
        ["lena@example.com", "birthday", "-", f"refused 2026-03-01: {reason}"]
    ]

    statement = runner.invoke(
        app, ["loyalty", "statement", "lena@example.com"], env={"COLUMNS": "80"}
    )
    assert statement.exit_code == 0, statement.output
    assert max(len(line) for line in statement.output.splitlines()) <= 80
    assert "rewards of customer 1" in statement.output
    assert ["birthday", "-", f"refused 2026-03-01: {reason}"] in rows(statement.output)
    document = json.loads(
        runner.invoke(app, ["loyalty", "statement", "lena@example.com", "--json"]).output
    )
    assert [(r["reward"], r["state"], r["reason"]) for r in document["rewards"]] == [
        ("birthday", "refused", reason)
    ]


@pytest.mark.usefixtures("db", "runtime")
def test_importing_codes_for_a_reward_the_programme_lacks_is_refused_naming_its_rewards() -> None:
    done = CliRunner().invoke(
        app, ["loyalty", "codes", "import", str(SHOPIFY_EXPORT), "--reward", "free-mug"]
    )
    assert done.exit_code == 1
    assert words(done.output) == (
        "Error: the programme has no reward 'free-mug'. Its rewards: five-off, birthday, referral."
    )
