"""Broadcasts in the studio over HTTP: the plan before anything is sent, Schedule and Cancel
(a publisher's, audited, with the form's token), the runs as `ladder broadcast status` counts
them; broadcast and series files edited, checked at their lines and published to the clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from html import unescape

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from models.db import session
from models.studio import FileKind
from models.tables import BROADCAST_RUNS
from tests.integration.test_broadcasts import BEFORE, shop
from tests.support.studio import add_person, log_in
from tests.support.web import TestClient
from worker import current_time
from worker.cli import app
from worker.queue import clock
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT
from worker.studio import audit, versions
from worker.studio.people import Role
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app reads on its own connections

MARIA = "maria@shop.example"  # a publisher
PAGE = "/studio/broadcasts/whats-new"  # triggers/broadcasts/whats_new.toml, on the 5th monthly
FILE = "whats_new.toml"


def studio(runtime: Runtime, email: str = MARIA, role: Role = Role.PUBLISHER) -> TestClient:
    add_person(runtime.settings.database_url, email, role)
    client = TestClient(create_app(runtime.settings))
    assert log_in(client, email).status_code == 303
    return client


def token_of(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, "the page carries no form token"
    return found[1]


def cells(page: str, row_id: str) -> list[str]:
    """The text of each cell of the table row with this id, as a reader sees it."""
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert found, f"no row {row_id} on the page"
    texts = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", found[1], re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split()) for text in texts]


def runs(database_url: str) -> list[tuple[str, str]]:
    with session(database_url) as db:
        rows = db.execute(select(BROADCAST_RUNS.c.occurs_on, BROADCAST_RUNS.c.status)).all()
    return [(str(day), str(status)) for day, status in rows]


def test_the_page_shows_the_reach_per_segment_and_language_before_anything_is_sent(
    db: Session, runtime: Runtime
) -> None:
    shop(db)  # Tokyo and LA with consent, one without, one suppressed, one outside
    current_time.freeze(BEFORE)

    page = studio(runtime, "vera@shop.example", Role.VIEWER).get(PAGE)

    assert page.status_code == 200
    assert "The run of <strong>2027-01-05</strong>" in page.text
    # segment, language, reached, no consent (consent or the suppression list), budget
    assert cells(page.text, "plan-loyal-en") == ["loyal", "en", "1", "2", "0"]
    assert cells(page.text, "plan-champions-en") == ["champions", "en", "1", "0", "0"]
    assert cells(page.text, "plan-all") == ["all", "", "3", "2", "0"]
    assert "No runs yet: nothing is scheduled." in page.text
    assert "A publisher can schedule or cancel it." in page.text
    assert 'id="schedule"' not in page.text
    assert runs(runtime.settings.database_url) == []


def test_a_publisher_schedules_and_cancels_it_and_each_is_in_the_audit_log(
    db: Session, runtime: Runtime
) -> None:
    shop(db)
    current_time.freeze(BEFORE)
    client = studio(runtime)
    page = client.get(PAGE)

    scheduled = client.post(
        f"{PAGE}/schedule", data={"token": token_of(page.text), "day": ""}, follow_redirects=False
    )

    assert scheduled.status_code == 303
    shown = client.get(scheduled.headers["location"]).text
    assert "Scheduled. The clock resolves its audience" in shown
    [run_id] = re.findall(r'<tr id="run-(\d+)">', shown)
    assert cells(shown, f"run-{run_id}")[1:3] == ["2027-01-05", "scheduled"]
    assert 'id="schedule"' in shown and 'id="cancel"' in shown

    again = client.post(f"{PAGE}/schedule", data={"token": token_of(shown)})
    assert again.status_code == 422
    assert "whats-new is already scheduled for 2027-01-05" in again.text

    cancelled = client.post(f"{PAGE}/cancel", data={"token": token_of(shown)})
    assert cancelled.status_code == 200  # the redirect followed
    assert "Cancelled: its runs waiting" in cancelled.text
    assert cells(cancelled.text, f"run-{run_id}")[2] == "cancelled"
    nothing = client.post(f"{PAGE}/cancel", data={"token": token_of(shown)})
    assert nothing.status_code == 422
    assert "whats-new has nothing waiting to cancel" in nothing.text

    with session(runtime.settings.database_url) as fresh:
        lines = audit.latest(fresh, subject="broadcast:whats-new")
    assert [(line.actor, line.action) for line in lines] == [
        (MARIA, "cancel"),
        (MARIA, "schedule"),
    ]
    assert lines[1].detail == "the run of 2027-01-05"


def test_the_runs_show_who_was_held_back_and_why_once_resolved(
    db: Session, runtime: Runtime
) -> None:
    shop(db)
    current_time.freeze(BEFORE)
    client = studio(runtime)
    client.post(f"{PAGE}/schedule", data={"token": token_of(client.get(PAGE).text)})
    due = datetime(2027, 1, 5, 0, 0, tzinfo=UTC)  # before 10:00 in Tokyo, the first zone
    with session(runtime.settings.database_url) as fresh:
        clock.resolve_broadcasts(fresh, now=due, runtime=runtime)

    page = client.get(PAGE).text  # (the studio's clock still the day before: logged in)

    rows = [cells(page, f"run-{n}") for n in re.findall(r'<tr id="run-(\d+)">', page)]
    [row] = [row for row in rows if row[1] == "2027-01-05"]  # (and the next month's, waiting)
    assert row[2] == "resolved"
    assert row[4] == "scheduled 3, skipped 2"
    assert row[5] == "address is on the suppression list: 1; no marketing consent: 1"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_a_viewer_or_an_editor_cannot_schedule_or_cancel(runtime: Runtime, role: Role) -> None:
    current_time.freeze(BEFORE)
    client = studio(runtime, f"{role.value}@shop.example", role)
    token = token_of(client.get(PAGE).text)

    assert client.post(f"{PAGE}/schedule", data={"token": token}).status_code == 403
    assert client.post(f"{PAGE}/cancel", data={"token": token}).status_code == 403
    assert runs(runtime.settings.database_url) == []


def test_scheduling_without_the_pages_token_is_refused(runtime: Runtime) -> None:
    current_time.freeze(BEFORE)
    client = studio(runtime)

    assert client.post(f"{PAGE}/schedule", data={"token": "forged"}).status_code == 403
    assert runs(runtime.settings.database_url) == []


def test_the_overview_lists_each_broadcast_and_series_with_where_it_stands(
    runtime: Runtime,
) -> None:
    current_time.freeze(BEFORE)

    page = studio(runtime, "vera@shop.example", Role.VIEWER).get("/studio/broadcasts").text

    assert cells(page, "broadcast-whats-new")[1:] == [FILE, "enabled", "2027-01-05", "-"]
    series = cells(page, "series-coffee-tips")
    assert series[1:3] == ["coffee_tips.toml", "enabled"]
    assert series[3].startswith("1. coffee_tips_1 : none yet")
    files = studio(runtime).get("/studio/files").text
    assert f'kind=broadcast&amp;path={FILE}">{FILE}</a>' in files
    assert 'kind=series&amp;path=coffee_tips.toml">coffee_tips.toml</a>' in files


def test_a_broadcast_draft_is_checked_as_ladder_check_checks_it_at_its_lines(
    runtime: Runtime,
) -> None:
    client = studio(runtime)
    opened = client.get("/studio/edit", params={"kind": "broadcast", "path": FILE})
    assert opened.status_code == 200
    original = PROJECT_ROOT.joinpath("triggers", "broadcasts", FILE).read_text(encoding="utf-8")
    broken = original.replace('message     = "whats_new"', 'message     = "whats_old"')
    line = 1 + broken.splitlines().index(next(x for x in broken.splitlines() if "whats_old" in x))

    typed = client.post(
        "/studio/check",
        data={"kind": "broadcast", "path": FILE, "body": broken, "token": token_of(opened.text)},
    )

    assert typed.status_code == 200
    assert typed.json()["lines"] == {
        str(line): ["message: 'whats_old' has no templates/whats_old/default.html.j2"]
    }
    saved = client.post(
        "/studio/edit",
        data={"kind": "broadcast", "path": FILE, "body": broken, "token": token_of(opened.text)},
    )
    assert "problem(s) to fix before it can be published" in saved.text
    assert f"{FILE}:{line}: message: &#39;whats_old&#39; has no templates" in saved.text
    assert 'id="publish"' not in saved.text


def test_a_published_broadcast_is_what_the_clock_and_the_page_use(
    db: Session, runtime: Runtime
) -> None:
    client = studio(runtime)
    opened = client.get("/studio/edit", params={"kind": "broadcast", "path": FILE})
    original = PROJECT_ROOT.joinpath("triggers", "broadcasts", FILE).read_text(encoding="utf-8")
    changed = original.replace('at          = "10:00"', 'at          = "11:30"')
    saved = client.post(
        "/studio/edit",
        data={"kind": "broadcast", "path": FILE, "body": changed, "token": token_of(opened.text)},
    )
    assert "It passed every check" in saved.text

    published = client.post(
        "/studio/publish",
        data={"kind": "broadcast", "path": FILE, "number": "2", "token": token_of(saved.text)},
    )

    assert "Version 2 is live" in published.text
    assert "at 11:30 in each customer&#39;s zone" in client.get(PAGE).text
    following = Runtime(runtime.settings)  # a worker or the clock, started before the publish
    assert following.broadcasts["whats-new"].at == time(10, 0)
    following.follow(db)
    assert following.broadcasts["whats-new"].at == time(11, 30)


def test_a_new_broadcast_from_this_one_is_named_after_its_file(runtime: Runtime) -> None:
    client = studio(runtime)
    opened = client.get("/studio/edit", params={"kind": "broadcast", "path": FILE})

    copied = client.post(
        "/studio/copy",
        data={
            "kind": "broadcast", "path": FILE, "number": "1", "new_path": "spring_sale.toml",
            "token": token_of(opened.text),
        },
    )  # fmt: skip

    assert "Created as a draft (version 1)" in copied.text
    assert 'name        = "spring_sale"' in unescape(copied.text)
    assert "This version passed every check." in copied.text  # no clash with whats-new


def publish_shipped_with(runtime: Runtime, old: str, new: str) -> None:
    """Maria publishes the shipped what's-new with `old` replaced by `new`."""
    settings = runtime.settings
    shipped = PROJECT_ROOT.joinpath("triggers", "broadcasts", FILE).read_text(encoding="utf-8")
    assert old in shipped
    text = shipped.replace(old, new)
    with session(settings.database_url) as db:
        number = versions.save(
            db, settings, FileKind.BROADCAST, FILE, text, author=MARIA, now=BEFORE, problems=[]
        )
        versions.publish(db, FileKind.BROADCAST, FILE, number, by=MARIA, now=BEFORE)
        db.commit()


def test_ladder_broadcast_plans_the_version_the_studio_published(runtime: Runtime) -> None:
    current_time.freeze(BEFORE)
    publish_shipped_with(runtime, "date        = 2027-01-05", "date        = 2027-03-05")
    runner = CliRunner()

    planned = runner.invoke(app, ["broadcast", "plan", "whats-new"], env={"COLUMNS": "120"})
    listed = runner.invoke(
        app, ["templates", "versions", f"broadcasts/{FILE}"], env={"COLUMNS": "80"}
    )

    assert planned.exit_code == 0, planned.output
    assert "ladder broadcast plan whats-new: 2027-03-05" in planned.output  # not January
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if line.lstrip("│ ").startswith("v")]
    assert [row.split("│")[1].strip() for row in rows] == ["v2", "v1"], listed.output


def test_a_disabled_broadcast_says_so_and_is_not_scheduled(runtime: Runtime) -> None:
    current_time.freeze(BEFORE)
    publish_shipped_with(runtime, "priority    = -10", "priority    = -10\nenabled     = false")
    client = studio(runtime)

    page = client.get(PAGE).text

    assert "Disabled in its file" in page
    assert 'id="schedule"' not in page and 'id="cancel"' in page  # what waits can end
    refused = client.post(f"{PAGE}/schedule", data={"token": token_of(page)})
    assert refused.status_code == 422
    assert "whats-new is disabled in its file (enabled = false)" in refused.text
    assert runs(runtime.settings.database_url) == []
    listed = client.get("/studio/broadcasts").text
    assert cells(listed, "broadcast-whats-new")[2] == "disabled"
