"""Partner offers: a partner's catalogue of codes imported as a reward's pool, handed out for
points like any pool code, and told with the partner's name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from models.tables import EVENTS
from tests.integration.test_loyalty_causes import member
from worker.cli import app as cli
from worker.loyalty import codes, views
from worker.runtime import Runtime

pytestmark = pytest.mark.commits  # the CLI reads on its own connections

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
ANA = "ana@example.com"


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-causes")


def test_a_partner_catalogue_is_imported_as_a_pool_and_its_codes_are_given_for_points(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    ana = member(db, runtime, ANA, 0)
    catalogue = tmp_path / "museum.csv"
    catalogue.write_text("code,valid_until\nmuseum-0001,2027-12-31\nMUSEUM-0002,2027-12-31\n")
    runner = CliRunner()

    imported = runner.invoke(
        cli, ["loyalty", "codes", "import", str(catalogue), "--reward", "tea-museum"]
    )
    adjusted = runner.invoke(cli, ["loyalty", "adjust", ANA, "1200", "--reason", "a gift"])
    listed = runner.invoke(cli, ["loyalty", "rewards", ANA])

    assert imported.exit_code == 0, imported.output
    assert "2 codes added to the tea-museum pool from a partner export" in imported.output
    assert adjusted.exit_code == 0 and "1 reward unlocked" in adjusted.output
    assert "MUSEUM-0001" in listed.output
    assert codes.pool_sizes(db) == {"tea-museum": (1, 1)}
    programme = runtime.programme
    assert programme is not None
    [usable] = views.usable_rewards(db, programme, ana, currency=runtime.settings.default_currency)
    assert (usable["kind"], usable["partner"], usable["code"]) == (
        "partner_offer",
        "The Tea Museum",
        "MUSEUM-0001",
    )
    told = db.execute(select(EVENTS.c.payload).where(EVENTS.c.type == "reward.unlocked")).all()
    db.rollback()
    assert [row.payload["data"]["partner"] for row in told] == ["The Tea Museum"]
