"""The customer's loyalty page through their signed link, in their language; its widget JSON for
a storefront; the same JSON for the shop's server by bearer token. Nothing for a link we did
not sign."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import Session
from typer.testing import CliRunner

from tests.integration.test_loyalty_rewards import PROGRAMME, customer_id, handle, pool
from tests.support.web import TestClient
from worker import current_time
from worker.cli import app as cli
from worker.delivery.composing import loyalty_url, personal_links
from worker.delivery.tokens import loyalty_token, read_loyalty_token
from worker.loyalty import codes, ledger, rewards
from worker.runtime import Runtime
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app and the CLI read on their own connections

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2)
LENA = "lena@example.de"


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop runs the shipped points-and-tiers programme (before `runtime` reads it)."""
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-tiers")
    monkeypatch.setenv("LOYALTY_WIDGET_ORIGINS", "https://shop.example")


def lena(db: Session, runtime: Runtime) -> int:
    """A German customer: a 300 EUR order (pending), 520 points given by hand, 500 of them
    spent on a five-off reward with its pool code."""
    pool(db, "five-off", "FUENF-A1")
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="300.00", email=LENA,
           locale="de", first_name="Lena")  # fmt: skip
    who = customer_id(db, LENA)
    ledger.adjust(db, customer_id=who, points=520, reason="late parcel", key="k1", now=T0)
    assert rewards.unlock_for_points(db, PROGRAMME, who, now=T0) == 1
    codes.give_pool_codes(db, PROGRAMME, now=T0, customer_ids=[who])
    db.commit()
    current_time.freeze(NOW)
    return who


def test_the_page_shows_the_ledger_in_german_for_a_german_customer(
    db: Session, runtime: Runtime
) -> None:
    who = lena(db, runtime)
    member = ledger.statement_of(db, who, entries=False).member
    assert member is not None and (member.points, member.pending) == (20, 300)
    db.commit()  # SQLite: the read's transaction holds the file's lock
    client = TestClient(create_app(runtime.settings))

    shown = client.get(path_of(loyalty_url(runtime.settings, who)))

    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    html = shown.text
    assert '<html lang="de">' in html
    assert "Ihre Punkte bei Ladder Demo Shop" in html
    assert "<span id='points' style='font-size:2.5em;font-weight:bold'>20</span>" in html
    assert "<b id='pending'>300</b> Punkte vorgemerkt" in html
    assert "Ihre Stufe: <span id='tier'>Silber</span>" in html  # 300 EUR spent: silver
    assert "Noch 450,00\xa0€ bis Gold" in html
    assert "5 euros off<br>Code: <code class='code'" in html and ">FUENF-A1</code>" in html
    assert "gültig bis 2. August 2026" in html  # unlocked on 4 May, 90 days
    for label, change in (("Prämie", "-500"), ("Korrektur", "+520"), ("Bestellung", "(+300)")):
        assert f">{label}</td><td style='{CELL}'>{change}</td>" in html
    # In the shop's page layout, and nothing fetched from anywhere: no script, style sheet,
    # image or font (the shop's name links to its site, as in the emails).
    assert '<td class="header"><a href="https://shop.example">Ladder Demo Shop</a>' in html
    assert "src=" not in html and "<script" not in html
    assert re.findall(r"<link(?! rel=\"icon\" href=\"data:,\")|@import|url\(", html) == []


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


CELL = "padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left"


def test_a_tampered_or_foreign_token_gets_a_page_saying_what_to_do_and_no_figures(
    db: Session, runtime: Runtime
) -> None:
    who = lena(db, runtime)
    client = TestClient(create_app(runtime.settings))
    good = loyalty_token(runtime.settings.secret_key(), who)
    other_key = loyalty_token(b"another shop's key", who)
    tampered = f"{who + 1}.{good.split('.')[1]}"

    for token in (tampered, other_key, good[:-1], f"{good}.x", "²." + good.split(".")[1]):
        page = client.get(f"/l/{token}", headers={"Accept-Language": "de-DE,de;q=0.9"})
        assert page.status_code == 404, token
        assert "Dieser Link ist nicht gültig. Öffnen Sie die neueste E-Mail" in page.text
        assert "FUENF-A1" not in page.text and "Punkte" not in page.text
        widget = client.get(f"/l/{token}/widget.json")
        assert widget.status_code == 404
        assert "FUENF" not in widget.text and "points" not in widget.json()
    assert read_loyalty_token(runtime.settings.secret_key(), good) == who


def test_the_widget_json_matches_the_statement_command(db: Session, runtime: Runtime) -> None:
    who = lena(db, runtime)
    client = TestClient(create_app(runtime.settings))
    url = loyalty_url(runtime.settings, who)
    path = path_of(url)

    widget = client.get(f"{path}/widget.json", headers={"Origin": "https://shop.example"})
    done = CliRunner().invoke(cli, ["loyalty", "statement", LENA, "--json"])

    assert widget.status_code == 200 and done.exit_code == 0, done.output
    assert widget.headers["access-control-allow-origin"] == "https://shop.example"
    got, statement = widget.json(), json.loads(done.output)
    same = ("customer_id", "points", "pending", "tier", "next_tier", "to_next_tier", "progress")
    assert {name: got[name] for name in same} == {name: statement[name] for name in same}
    assert (got["multiplier"], got["tiers_by"]) == (statement["multiplier"], "spend")
    assert (got["currency"], got["to_next_tier"], got["tier"]) == ("EUR", "450.00", "silver")
    assert (
        [r["code"] for r in got["rewards"]]
        == [r["code"] for r in statement["rewards"] if r["state"] == "unlocked"]
        == ["FUENF-A1"]
    )
    assert [(e["at"], e["kind"], e["points"], e["pending"]) for e in got["history"]] == [
        (e["at"], e["kind"], e["points"], e["pending"]) for e in reversed(statement["entries"])
    ]
    assert got["page_url"] == url == personal_links(runtime.settings, who)["loyalty_url"]

    elsewhere = client.get(f"{path}/widget.json", headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 200
    assert "access-control-allow-origin" not in elsewhere.headers


def test_the_shops_server_asks_with_the_bearer_token_and_gets_the_same_document(
    db: Session, runtime: Runtime
) -> None:
    who = lena(db, runtime)
    settings = runtime.settings.model_copy(update={"ladder_api_token": SecretStr("t0ken")})
    client = TestClient(create_app(settings))
    widget = client.get(f"/l/{loyalty_token(settings.secret_key(), who)}/widget.json").json()

    refused = client.post("/loyalty/statement", json={"email": LENA})
    wrong = client.post(
        "/loyalty/statement", json={"email": LENA}, headers={"Authorization": "Bearer nope"}
    )
    asked = client.post(
        "/loyalty/statement", json={"email": LENA}, headers={"Authorization": "Bearer t0ken"}
    )
    unknown = client.post(
        "/loyalty/statement",
        json={"email": "nobody@example.de"},
        headers={"Authorization": "Bearer t0ken"},
    )

    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert "FUENF" not in refused.text + wrong.text
    assert asked.status_code == 200 and asked.json() == widget
    assert unknown.status_code == 404
