"""The studio's editor end to end in headless Chromium, as the issue's marketer uses it: open
the Spanish win-back, make a mistake and see it at its line, fix it with a new subject, preview
it, send a test, publish it, see a worker send it, roll back, see the old subject sent again.

The reference screenshot is refreshed with `make snapshots` (UPDATE_SNAPSHOTS=1).
"""

from __future__ import annotations

import email
import email.policy
import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import insert, select
from sqlmodel import Session

from models.tables import CUSTOMERS, DELIVERIES, EVENTS, STUDIO_AUDIT, STUDIO_PUBLICATIONS
from tests.support.browser import SCREENSHOTS, assert_looks_like, text_on_page
from tests.support.deliveries import eml_name
from tests.support.services import free_port
from tests.support.serving import serving
from tests.support.studio import PASSWORD, add_person
from tests.support.waiting import wait_until
from worker.delivery.batches import deliver_many
from worker.runtime import Runtime
from worker.studio.people import Role

REFERENCE = SCREENSHOTS / "studio_editor_problem.png"
SPANISH = "win_back/default.es.html.j2"
OLD_SUBJECT = "Te echamos de menos, Pilar"
NEW_SUBJECT = "Lucía, vuelve: tienes un 15 % esperándote"


MARIA = "maria@shop.example"


@pytest.fixture
def studio(runtime: Runtime) -> Iterator[tuple[str, Runtime]]:
    """The web process on a free port with Maria's account (a publisher), and a worker's
    runtime beside it."""
    settings = runtime.settings
    add_person(settings.database_url, MARIA, Role.PUBLISHER)
    with serving(settings) as base:
        yield base, Runtime(settings)


def due_win_backs(db: Session, names: list[str]) -> list[int]:
    """Spanish customers gone quiet, one win-back due now for each; commits."""
    now = datetime.now(UTC)
    ids = []
    for n, name in enumerate(names):
        [customer_id] = db.execute(
            insert(CUSTOMERS).returning(CUSTOMERS.c.id),
            [{"email": f"{name.lower()}@example.com", "first_name": name, "locale": "es",
              "accepts_marketing": True, "created_at": now, "orders_count": 3, "segment": "loyal",
              "total_spent": 120, "average_order_value": 40, "last_order_at": now}],
        ).scalars()  # fmt: skip
        [event_id] = db.execute(
            insert(EVENTS).returning(EVENTS.c.id),
            [{"source": "api", "source_event_id": f"quiet-{n}", "type": "customer.updated",
              "customer_id": customer_id, "occurred_at": now, "received_at": now,
              "payload": {}, "status": "processed"}],
        ).scalars()  # fmt: skip
        [delivery_id] = db.execute(
            insert(DELIVERIES).returning(DELIVERIES.c.id),
            [{"dedupe_key": f"win-back:{event_id}", "trigger": "win-back",
              "message": "win_back", "customer_id": customer_id, "cause_event_id": event_id,
              "status": "scheduled", "send_at": now, "created_at": now}],
        ).scalars()  # fmt: skip
        ids.append(delivery_id)
    db.commit()
    return ids


def log_in(browser: WebDriver, base: str) -> None:
    """Maria opens the studio's files, is sent to the login, logs in and lands on them."""
    browser.get(f"{base}/studio/files")
    wait_until(lambda: "/studio/login" in browser.current_url, timeout_s=20, what="the login")
    browser.find_element(By.ID, "email").send_keys(MARIA)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "log-in").click()
    wait_until(
        lambda: (
            browser.current_url == f"{base}/studio/files"
            and bool(browser.find_elements(By.LINK_TEXT, SPANISH))
        ),
        timeout_s=20,
        what="the files after logging in",
    )


def text_of(driver: WebDriver, element_id: str) -> str:
    return text_on_page(driver, element_id)


def editor_ready(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return !!window.ladderEditor"))


def submit(driver: WebDriver, button_id: str, then_shows: str) -> None:
    driver.find_element(By.ID, button_id).click()
    wait_until(
        lambda: then_shows in text_of(driver, "notice"),
        timeout_s=30,
        what=f"the page to say {then_shows!r}",
    )
    wait_until(lambda: editor_ready(driver), timeout_s=20, what="the editor to load")


def sent_subject(runtime: Runtime, db: Session, delivery_id: int) -> str:
    name = eml_name(db, delivery_id)
    db.commit()  # the read's transaction: on SQLite it holds the one writer lock
    raw = (Path(runtime.settings.outbox_dir) / name).read_bytes()
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]).strip()


@pytest.mark.commits  # the web process reads the accounts through its own connection
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_marketer_changes_the_spanish_win_back_subject_and_the_next_one_goes_out_with_it(
    studio: tuple[str, Runtime], browser: WebDriver, db: Session
) -> None:
    base, worker = studio
    first, second = due_win_backs(db, ["Lucía", "Pilar"])
    log_in(browser, base)
    browser.find_element(By.LINK_TEXT, SPANISH).click()
    wait_until(lambda: editor_ready(browser), timeout_s=20, what="the editor to load")
    assert text_of(browser, "state") == "live"
    assert browser.find_elements(By.CSS_SELECTOR, ".CodeMirror-linenumber")

    # A mistake: an `if` left open on line 6, typed into the editor.
    browser.execute_script("window.ladderEditor.setCursor({line: 5, ch: 0})")
    browser.find_element(By.CSS_SELECTOR, ".CodeMirror textarea").send_keys(
        "{% if customer.first_name %}\n"
    )
    # Checked as she types: the problem shows at its line before anything is saved.
    wait_until(
        lambda: "{% if %} opened here is never closed" in text_of(browser, "live-check"),
        timeout_s=30,
        what="the check as she types",
    )
    gutter = browser.find_elements(By.CSS_SELECTOR, ".CodeMirror-code .problem-line")
    assert len(gutter) == 2  # where Jinja noticed, and the `if` left open
    submit(browser, "save", "problem(s) to fix")
    assert text_of(browser, "state") == "draft with problems"
    assert f"{SPANISH}:" in text_of(browser, "problems")
    assert "endif" in text_of(browser, "problems")
    marked = browser.find_elements(By.CSS_SELECTOR, ".CodeMirror-code .problem-line")
    assert marked, "no line is marked in the editor"
    assert not browser.find_elements(By.ID, "publish")
    assert_looks_like(browser, browser.get_screenshot_as_png(), REFERENCE)

    # Fixed, with the new subject.
    text = browser.execute_script("return window.ladderEditor.getValue()")
    fixed = text.replace("{% if customer.first_name %}\n", "", 1).replace(
        '{% block subject %}Te echamos de menos{{ ", " ~ customer.first_name if '
        'customer.first_name else "" }}{% endblock %}',
        '{% block subject %}{{ customer.first_name ~ ", v" if customer.first_name else "V" }}'
        "uelve: tienes un 15 % esperándote{% endblock %}",
    )
    assert fixed != text
    browser.execute_script("window.ladderEditor.setValue(arguments[0])", fixed)
    browser.find_element(By.ID, "note").send_keys("a subject that names the discount")
    submit(browser, "save", "It passed every check")
    assert text_of(browser, "subject") == NEW_SUBJECT
    browser.switch_to.frame(browser.find_element(By.ID, "mobile"))
    assert browser.execute_script("return window.innerWidth") == 375  # a phone's width
    assert "COMEBACK15" in browser.find_element(By.TAG_NAME, "body").text
    browser.switch_to.default_content()

    browser.find_element(By.ID, "to").send_keys("maria@shop.example")
    submit(browser, "send-test", "A test of version 3 was sent to maria@shop.example")
    tests = sorted(Path(worker.settings.outbox_dir).glob("test-*.eml"))
    assert len(tests) == 1
    proof = email.message_from_bytes(tests[0].read_bytes(), policy=email.policy.default)
    # (a long encoded subject is folded onto the header's next line: unfolded, it leads with
    # the fold's space, which mail clients drop)
    assert str(proof["Subject"]).strip() == f"[test] {NEW_SUBJECT}"

    submit(browser, "publish", "Version 3 is live")
    worker.follow(db)
    deliver_many(db, [first], now=datetime.now(UTC), runtime=worker)
    assert sent_subject(worker, db, first) == NEW_SUBJECT

    rollback = browser.find_element(By.CSS_SELECTOR, "button.rollback[data-version='1']")
    assert rollback.text == "Roll back to v1"
    rollback.click()
    wait_until(
        lambda: "Version 1 is live" in text_of(browser, "notice"),
        timeout_s=30,
        what="the rollback",
    )
    worker._look_again_at = 0.0  # a second later, as a worker's next batch would
    worker.follow(db)
    deliver_many(db, [second], now=datetime.now(UTC), runtime=worker)
    assert sent_subject(worker, db, second) == OLD_SUBJECT

    browser.refresh()
    wait_until(lambda: editor_ready(browser), timeout_s=20, what="the editor to load")
    rows = browser.find_elements(By.CSS_SELECTOR, "#sent tr")[1:]
    assert [row.text.split()[-1] for row in rows] == ["v1", "v3"]
    versions = db.execute(select(DELIVERIES.c.template_version).order_by(DELIVERIES.c.id)).scalars()
    assert list(versions) == [3, 1]


@pytest.mark.commits  # the web process reads the accounts through its own connection
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_elsewhere_cannot_make_a_logged_in_publisher_publish(
    studio: tuple[str, Runtime], browser: WebDriver, db: Session, tmp_path: Path
) -> None:
    base, _ = studio
    log_in(browser, base)
    # Another site's page (another origin on this machine) that posts the publish form at once.
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "index.html").write_text(
        f"""<!doctype html><form method="post" action="{base}/studio/publish" id="f">
<input name="kind" value="template"><input name="path" value="{SPANISH}">
<input name="number" value="1"><input name="token" value="1700000000.guessed"></form>
<script>document.getElementById("f").submit()</script>""",
        encoding="utf-8",
    )
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path / "evil")
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{port}/index.html")
        wait_until(
            lambda: browser.current_url.startswith(f"{base}/studio/publish"),
            timeout_s=20,
            what="the forged form to be posted",
        )
        assert "came from another site" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        evil.shutdown()
    assert db.execute(select(STUDIO_PUBLICATIONS.c.id)).all() == []
    actions = db.execute(select(STUDIO_AUDIT.c.action)).scalars().all()
    assert "publish" not in actions and "rollback" not in actions
