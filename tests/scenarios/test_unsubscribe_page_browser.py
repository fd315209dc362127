"""The unsubscribe page as Lena opens it from her email: in headless Chromium, in German, in the
shop's own layout and colours, nothing fetched from anywhere, and looking as it did when
reviewed; its button unsubscribes her.

The reference screenshot is refreshed with `make snapshots` (UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlmodel import Session

from models import Customer
from tests.support.browser import SCREENSHOTS, assert_looks_like, text_on_page
from tests.support.serving import serving
from tests.support.waiting import wait_until
from worker.delivery.tokens import unsubscribe_token
from worker.processing.preferences import preferences_of
from worker.runtime import Runtime

REFERENCE = SCREENSHOTS / "unsubscribe_page_de.png"

pytestmark = pytest.mark.commits  # the web process reads on its own connections


@pytest.fixture
def web(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The web process of the Ladder Tea Co. on a free port; yields its base URL."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    settings = runtime.settings.model_copy(
        update={
            "shop_name": "Ladder Tea Co.",
            "shop_url": "https://tea.example",
            "postal_address": "Calle Mayor 1, 28013 Madrid",
        }
    )
    with serving(settings) as base:
        yield base


def body_text(driver: WebDriver) -> str:
    """The page's text; empty while the answer to the form replaces the page."""
    return text_on_page(driver)


def test_the_unsubscribe_page_in_german_wears_the_shops_look_and_unsubscribes(
    db: Session, runtime: Runtime, web: str, browser: WebDriver
) -> None:
    lena = Customer(
        email="lena@example.com", first_name="Lena", accepts_marketing=True, locale="de",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    db.add(lena)
    db.commit()
    token = unsubscribe_token(runtime.settings.secret_key(), lena.id or 0, "marketing")

    browser.get(f"{web}/u/{token}")

    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert browser.find_element(By.CSS_SELECTOR, ".header a").text == "Ladder Tea Co."
    color = browser.find_element(By.CSS_SELECTOR, ".header a").value_of_css_property("color")
    assert color == "rgba(90, 62, 43, 1)"  # email.css's brown, as in the emails
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded == []
    assert_looks_like(browser, browser.get_screenshot_as_png(), REFERENCE)

    browser.find_element(By.TAG_NAME, "button").click()
    wait_until(
        lambda: "Sie erhalten keine" in body_text(browser),
        timeout_s=20,
        what="the page to say she is unsubscribed",
    )
    db.expire_all()
    assert preferences_of(db, lena.id or 0)["marketing"] is False
