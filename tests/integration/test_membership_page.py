"""A paid member sees their membership: on their loyalty page (in their language), in the
storefront widget's JSON, and in `ladder loyalty statement`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from tests.integration.test_loyalty_page import path_of
from tests.integration.test_membership_sweeps import PROGRAMME, paid
from tests.support.web import TestClient
from worker import current_time
from worker.cli import app as cli
from worker.delivery.composing import loyalty_url
from worker.loyalty import membership_sweeps
from worker.runtime import Runtime
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app and the CLI read on their own connections

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_PROGRAMME", "paid-membership")
    monkeypatch.setenv("LOYALTY_WIDGET_ORIGINS", "https://shop.example")


def test_the_page_widget_and_statement_show_the_plan_its_end_and_the_benefits(
    db: Session, runtime: Runtime
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)  # Ana, in Spanish
    db.commit()
    current_time.freeze(T0 + timedelta(days=3))
    client = TestClient(create_app(runtime.settings))
    path = path_of(loyalty_url(runtime.settings, 1))

    html = client.get(path).text
    assert "<h2 style='font-size:1.2em'>Tu membresía</h2>" in html
    assert "<p id='membership'>Activa, se renueva el 4 de mayo de 2027</p>" in html
    benefits = "<li>Cada pedido te da 2 veces los puntos</li><li>Envío gratis en cada pedido</li>"
    assert benefits in html

    widget = client.get(f"{path}/widget.json", headers={"Origin": "https://shop.example"}).json()
    assert widget["membership"] == {
        "plan": "price_year",
        "status": "active",
        "active": True,
        "active_until": (T0 + YEAR).isoformat(),
        "renews": True,
        "multiplier": "2",
        "free_shipping": True,
    }

    shown = CliRunner().invoke(cli, ["loyalty", "statement", "ana@example.com"])
    assert shown.exit_code == 0, shown.output
    assert "member (price_year) renews 2027-05-04 10:00: earns 2x, free shipping" in " ".join(
        shown.output.split()
    )

    # Unpaid past the grace: the page says it ended, the statement that it lapsed.
    later = T0 + YEAR + timedelta(days=8)
    assert PROGRAMME is not None and PROGRAMME.membership is not None
    assert membership_sweeps.lapse(db, PROGRAMME.membership, now=later) == 1
    db.commit()
    current_time.freeze(later)
    html = client.get(path).text
    ended = "Tu membresía ha terminado. Renuévala para recuperar tus ventajas."
    assert f"<p id='membership'>{ended}</p>" in html
    shown = CliRunner().invoke(cli, ["loyalty", "statement", "ana@example.com", "--json"])
    assert json.loads(shown.output)["membership"]["status"] == "lapsed"
