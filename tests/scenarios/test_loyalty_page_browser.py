"""The customer's loyalty page as Lena opens it from her email: in headless Chromium, in German,
nothing fetched from anywhere, and looking as it did when reviewed.

The reference screenshot is refreshed with `make snapshots` (UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlmodel import Session

from tests.integration.test_loyalty_page import lena, path_of, programme_runs
from tests.support.browser import SCREENSHOTS, assert_looks_like
from tests.support.services import free_port
from tests.support.waiting import wait_until
from worker.delivery.composing import loyalty_url
from worker.runtime import Runtime
from worker.web import create_app

__all__ = ["programme_runs"]  # the autouse fixture: the shop runs the shipped programme

REFERENCE = SCREENSHOTS / "loyalty_page_de.png"

pytestmark = pytest.mark.commits  # the web process reads on its own connections


@pytest.fixture
def web(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web process on a free port; yields its base URL."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime.settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=20, what="the web process to listen")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_loyalty_page_in_german_looks_as_reviewed_and_fetches_nothing(
    db: Session, runtime: Runtime, web: str, browser: WebDriver
) -> None:
    who = lena(db, runtime)

    browser.get(web + path_of(loyalty_url(runtime.settings, who)))

    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert browser.find_element(By.ID, "points").text == "20"
    assert browser.find_element(By.ID, "tier").text == "Silber"
    assert browser.find_element(By.ID, "to-next").text == "Noch 450,00 € bis Gold"
    assert [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#rewards code")] == ["FUENF-A1"]
    width = browser.execute_script(
        "return document.getElementById('progress').getBoundingClientRect().width"
        " / document.getElementById('progress').parentElement.getBoundingClientRect().width"
    )
    assert round(width, 2) == 0.1  # 300 of the 250 to 750 between silver and gold
    # Everything the page loaded is the page itself.
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded == []
    assert_looks_like(browser, browser.get_screenshot_as_png(), REFERENCE)
