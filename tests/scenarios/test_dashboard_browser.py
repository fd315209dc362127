"""The studio's dashboard in headless Chromium: a marketer sees what the emails did and that
sending is paused, finds a customer, reads her timeline, and lifts the pause; nothing fetched
from anywhere, no JavaScript needed, and looking as it did when reviewed.

The reference screenshot is refreshed with `make snapshots` (UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlmodel import Session, select

from models import SendingPause, Suppression
from tests.integration.test_studio_dashboard import (
    DAY,
    MARIA,
    T0,
    opened_thank_you_and_a_second_order,
)
from tests.support.browser import SCREENSHOTS, assert_looks_like
from tests.support.serving import serving
from tests.support.studio import PASSWORD, add_person
from tests.support.waiting import wait_until
from worker import current_time
from worker.delivery import pauses
from worker.runtime import Runtime
from worker.studio.people import Role

REFERENCE = SCREENSHOTS / "studio_dashboard.png"

pytestmark = pytest.mark.commits  # the web process reads on its own connections


@pytest.fixture
def web(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web process with the studio on, on a free port; yields its base URL with login."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    settings = runtime.settings.model_copy(update={"shop_name": "Ladder Tea Co."})
    add_person(settings.database_url, MARIA, Role.PUBLISHER)
    with serving(settings) as base:
        yield base


def go(browser: WebDriver, by: str, what: str, *, to: str) -> None:
    """Clicks the element once it is there and waits until the page it opens has loaded: a
    click returns before the next page has come."""
    wait_until(lambda: browser.find_elements(by, what) != [], timeout_s=20, what=what)
    browser.find_element(by, what).click()
    wait_until(
        lambda: (
            to in browser.current_url
            and browser.execute_script("return document.readyState") == "complete"
        ),
        timeout_s=20,
        what=f"the page {to}",
    )


def test_a_marketer_reads_the_dashboard_finds_a_customer_and_lifts_the_pause(
    db: Session, runtime: Runtime, web: str, browser: WebDriver
) -> None:
    opened_thank_you_and_a_second_order(db, runtime)
    db.add(Suppression(email="gone@example.com", reason="bounced", created_at=T0 + DAY))
    db.commit()
    pauses.pause(
        db, "sendgrid", "SendGrid refused the API key (401)", now=T0 + 9 * DAY, probe_after_s=3600
    )
    current_time.freeze(T0 + 9 * DAY + timedelta(minutes=20))

    browser.get(web + "/studio/")
    wait_until(lambda: "/studio/login" in browser.current_url, timeout_s=20, what="the login")
    browser.find_element(By.ID, "email").send_keys(MARIA)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "log-in").click()
    wait_until(
        lambda: (
            browser.current_url == web + "/studio/"
            and bool(browser.find_elements(By.ID, "triggers"))
        ),
        timeout_s=20,
        what="the dashboard after logging in",
    )

    assert browser.find_element(By.TAG_NAME, "h1").text == "What is happening"
    paused = browser.find_element(By.ID, "pause-sendgrid").text
    assert "Sending through sendgrid is paused" in paused
    assert "SendGrid refused the API key (401)" in paused
    row = browser.find_element(By.ID, "trigger-thank-you")
    assert [cell.text for cell in row.find_elements(By.TAG_NAME, "td")][3:9] == [
        "1", "1 100.0%", "1 100.0%", "0", "1 100.0%", "40.00",
    ]  # fmt: skip
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded == []  # nothing from a CDN, nor from anywhere else
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert_looks_like(browser, browser.get_screenshot_as_png(), REFERENCE)

    go(browser, By.LINK_TEXT, "Customers", to="/studio/customers")
    browser.find_element(By.ID, "q").send_keys("ana")
    go(browser, By.ID, "search", to="/studio/customers?q=ana")
    go(browser, By.LINK_TEXT, "ana@example.com", to="/studio/customers/")
    timeline = browser.find_element(By.ID, "timeline").text
    assert "thank-you: matched" in timeline
    assert "customer.orders_count == 1 is false" in timeline
    assert "opened" in browser.find_element(By.ID, "deliveries").text

    go(browser, By.LINK_TEXT, "Suppressions", to="/studio/suppressions")
    assert "gone@example.com bounced" in browser.find_element(By.ID, "suppressions").text

    go(browser, By.LINK_TEXT, "What is happening", to="/studio/")
    go(browser, By.ID, "lift-sendgrid", to="/studio/?lifted=sendgrid")
    assert browser.find_element(By.ID, "notice").text == (
        "Sending through sendgrid resumed: deliveries go out on the next tick."
    )
    assert browser.find_element(By.ID, "sending").text == "Sending is not paused."
    db.expire_all()
    assert db.exec(select(SendingPause)).all() == []
