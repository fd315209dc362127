"""A broadcast from the studio in headless Chromium, as a marketer with no shell sends one:
from the broadcasts list to the monthly letter's page, its reach per segment and language
before anything is sent, Schedule, and the run it made; nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlmodel import Session

from tests.integration.test_broadcasts import BEFORE, shop
from tests.support.browser import text_on_page
from tests.support.serving import serving
from tests.support.studio import PASSWORD, add_person
from tests.support.waiting import wait_until
from worker import current_time
from worker.runtime import Runtime
from worker.studio.people import Role

MARIA = "maria@shop.example"

pytestmark = pytest.mark.commits  # the web process reads on its own connections


@pytest.fixture
def web(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web process with Maria (a publisher), on a free port; yields its base URL."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    add_person(runtime.settings.database_url, MARIA, Role.PUBLISHER)
    with serving(runtime.settings) as base:
        yield base


def cells(browser: WebDriver, row_id: str) -> list[str]:
    row = browser.find_element(By.ID, row_id)
    return [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td, th")]


def test_a_marketer_sees_the_plan_schedules_the_letter_and_sees_its_run(
    db: Session, web: str, browser: WebDriver
) -> None:
    shop(db)  # two with consent, one without, one suppressed, one outside the segments
    current_time.freeze(BEFORE)

    browser.get(web + "/studio/broadcasts")
    wait_until(lambda: "/studio/login" in browser.current_url, timeout_s=20, what="the login")
    browser.find_element(By.ID, "email").send_keys(MARIA)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "log-in").click()
    wait_until(
        lambda: "2027-01-05" in text_on_page(browser, "broadcast-whats-new"),
        timeout_s=20,
        what="the broadcasts list after logging in",
    )
    browser.find_element(By.LINK_TEXT, "whats-new").click()
    wait_until(
        lambda: "The run of 2027-01-05" in text_on_page(browser, "plan-day"),
        timeout_s=20,
        what="the broadcast's plan",
    )

    assert cells(browser, "plan-loyal-en") == ["loyal", "en", "1", "2", "0"]
    assert cells(browser, "plan-all") == ["all", "", "3", "2", "0"]
    assert "No runs yet: nothing is scheduled." in text_on_page(browser, "no-runs")
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(name.startswith(web) for name in loaded)  # the studio's own stylesheet only

    browser.find_element(By.ID, "schedule").click()
    wait_until(
        lambda: "Scheduled." in text_on_page(browser, "notice"),
        timeout_s=20,
        what="the page after Schedule",
    )

    [run] = browser.find_elements(By.CSS_SELECTOR, "#runs tr[id^=run-]")
    assert [cell.text for cell in run.find_elements(By.TAG_NAME, "td")][1:3] == [
        "2027-01-05",
        "scheduled",
    ]
    assert browser.find_elements(By.ID, "no-runs") == []
