"""The studio's preview page end to end in headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium): log in, pick, see, compare a screenshot, follow an edit;
a viewer sees no send button and is refused a send; log out.

The reference screenshot is refreshed with `make snapshots` (UPDATE_SNAPSHOTS=1).
"""

from __future__ import annotations

import email
import email.policy
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.support.browser import (
    MAX_DIFFERENT_PIXELS,
    SCREENSHOTS,
    assert_looks_like,
    different_pixels,
    text_on_page,
)
from tests.support.serving import serving
from tests.support.studio import PASSWORD, add_person
from tests.support.waiting import wait_until
from worker.settings import PROJECT_ROOT, Settings
from worker.studio.people import Role

REFERENCE = SCREENSHOTS / "studio_win_back_champions_de.png"
LENA = "lena@tea.example"  # an editor
OLGA = "olga@tea.example"  # a viewer


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", root)
    return root


@pytest.fixture
def studio(tmp_path: Path, templates: Path, sqlite_template: Path) -> Iterator[str]:
    """The web process on a free port, with an editor's and a viewer's account; yields its
    base URL."""
    shutil.copyfile(sqlite_template, tmp_path / "ladder.db")
    database_url = f"sqlite:///{tmp_path / 'ladder.db'}"
    add_person(database_url, LENA, Role.EDITOR)
    add_person(database_url, OLGA, Role.VIEWER)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        templates_dir=templates,
        shop_name="Ladder Tea Co.",
        postal_address="Calle Mayor 1, 28013 Madrid",
        shop_url="https://tea.example",
        public_url="https://ladder.tea.example",
        outbox_dir=tmp_path / "outbox",  # where the page's test sends go
    )
    with serving(settings) as base:
        yield base


def subject_shown(driver: WebDriver) -> str:
    """The subject on the page; empty while the page is being reloaded."""
    return text_on_page(driver, "subject")


def log_in(driver: WebDriver, base: str, email: str = LENA) -> None:
    """Opens the studio, is sent to the login form, fills it in and lands on the preview."""
    driver.get(f"{base}/studio/preview")
    wait_until(lambda: "/studio/login" in driver.current_url, timeout_s=20, what="the login page")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "log-in").click()
    wait_until(
        lambda: (
            driver.current_url.startswith(f"{base}/studio/preview") and shown(driver, "me") != ""
        ),
        timeout_s=20,
        what="the preview after logging in",
    )


def shown(driver: WebDriver, element_id: str) -> str:
    """The element's text; empty while it is not on the page."""
    return text_on_page(driver, element_id)


def pick(driver: WebDriver, base: str, message: str, segment: str, locale: str) -> None:
    log_in(driver, base)
    driver.get(f"{base}/studio/preview")
    Select(driver.find_element(By.ID, "message")).select_by_visible_text(message)
    Select(driver.find_element(By.ID, "segment")).select_by_visible_text(segment)
    Select(driver.find_element(By.ID, "locale")).select_by_visible_text(locale)
    driver.find_element(By.ID, "show").click()
    wait_until(
        lambda: (
            f"message={message}" in driver.current_url
            and driver.execute_script("return document.readyState") == "complete"
            and subject_shown(driver) != ""
        ),
        timeout_s=20,
        what="the page for the picked message",
    )


def test_a_marketer_picks_a_german_champion_and_sees_the_email_at_both_widths(
    studio: str, browser: WebDriver
) -> None:
    pick(browser, studio, "win_back", "champions", "de")

    assert browser.find_element(By.ID, "subject").text == "Ihre Lieblingsstücke warten auf Sie"
    assert browser.find_element(By.ID, "preheader").text.startswith("Nach 7 Bestellungen")
    assert browser.find_element(By.ID, "warnings").text == "No warnings: this email may be sent."
    assert "Hallo Lena," in browser.find_element(By.ID, "text").text
    desktop = browser.find_element(By.ID, "desktop")
    mobile = browser.find_element(By.ID, "mobile")

    # Inside the phone-width frame the @media rules make the email fit the screen.
    browser.switch_to.frame(mobile)
    assert browser.execute_script("return window.innerWidth") == 375
    container = browser.find_element(By.CSS_SELECTOR, "table.container")
    assert container.size["width"] <= 375 - 24
    assert "Sie gehören zu unseren besten Kundinnen und Kunden" in container.text
    browser.switch_to.default_content()
    browser.switch_to.frame(desktop)
    assert browser.execute_script("return window.innerWidth") == 700
    assert browser.find_element(By.CSS_SELECTOR, "table.container").size["width"] == 600
    browser.switch_to.default_content()

    shot = desktop.screenshot_as_png
    assert_looks_like(browser, shot, REFERENCE)


def test_a_marketer_sends_the_email_she_sees_to_herself_as_a_test(
    studio: str, browser: WebDriver, tmp_path: Path, templates: Path
) -> None:
    pick(browser, studio, "win_back", "champions", "de")
    browser.find_element(By.ID, "to").send_keys("lena@tea.example")
    browser.find_element(By.ID, "send-test").click()
    wait_until(
        lambda: "A test was sent" in notice_shown(browser),
        timeout_s=20,
        what="the page to say the test was sent",
    )

    assert notice_shown(browser) == (
        "A test was sent to lena@tea.example (win_back/champions.de.html.j2, de)."
    )
    [sent] = list((tmp_path / "outbox").glob("*.eml"))
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert message["To"] == "lena@tea.example"
    assert message["Subject"] == "[test] Ihre Lieblingsstücke warten auf Sie"
    # The page still shows the same email, ready for the next change.
    assert browser.find_element(By.ID, "subject").text == "Ihre Lieblingsstücke warten auf Sie"

    # Saving the template updates the page without posting the test again.
    path = templates / "win_back" / "champions.de.html.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace("Ihre Lieblingsstücke", "Ihre Favoriten"),
        encoding="utf-8",
    )
    wait_until(
        lambda: subject_shown(browser) == "Ihre Favoriten warten auf Sie",
        timeout_s=20,
        interval_s=0.2,
        what="the page to follow the edited template",
    )
    assert "/studio/preview?message=win_back&segment=champions&locale=de" in browser.current_url
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def notice_shown(driver: WebDriver) -> str:
    try:
        return str(driver.find_element(By.ID, "notice").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_the_page_reloads_itself_when_the_template_is_saved(
    studio: str, browser: WebDriver, templates: Path
) -> None:
    pick(browser, studio, "win_back", "champions", "de")
    path = templates / "win_back" / "champions.de.html.j2"
    edited = (
        path.read_text(encoding="utf-8")
        .replace("Ihre Lieblingsstücke warten auf Sie", "Wir haben etwas für Sie zurückgelegt")
        .replace("{% include", "<h1>Nur für Sie</h1>\n{% include")
    )
    path.write_text(edited, encoding="utf-8")

    wait_until(
        lambda: subject_shown(browser) == "Wir haben etwas für Sie zurückgelegt",
        timeout_s=20,
        interval_s=0.2,
        what="the page to follow the edited template",
    )
    assert "message=win_back" in browser.current_url  # still the marketer's pick
    browser.save_screenshot(str(templates.parent / "studio.png"))
    # The screenshot comparison sees the new heading: a changed email does not pass for the old.
    shot = browser.find_element(By.ID, "desktop").screenshot_as_png
    assert different_pixels(browser, shot, REFERENCE.read_bytes()) > MAX_DIFFERENT_PIXELS


def test_a_viewer_sees_no_send_button_is_refused_a_send_and_logs_out(
    studio: str, browser: WebDriver, tmp_path: Path
) -> None:
    log_in(browser, studio, OLGA)
    assert browser.find_element(By.ID, "me").text == OLGA
    assert browser.find_elements(By.ID, "send-test") == []
    assert browser.find_elements(By.ID, "subject") != []  # the preview itself is there
    token = browser.find_element(By.CSS_SELECTOR, "#logout-form input[name=token]").get_attribute(
        "value"
    )
    # The form the page does not show, posted by the page's own script: refused for her role.
    status = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const form = new URLSearchParams({message: "win_back", to: "olga@tea.example",
                                          token: arguments[0]});
        fetch("/studio/send-test", {method: "POST", body: form}).then(r => done(r.status));""",
        token,
    )
    assert status == 403
    assert not (tmp_path / "outbox").exists() or list((tmp_path / "outbox").glob("*")) == []

    browser.find_element(By.ID, "log-out").click()
    wait_until(
        lambda: shown(browser, "notice") == "You have logged out.",
        timeout_s=20,
        what="the login page saying so",
    )
    browser.get(f"{studio}/studio/preview")
    wait_until(
        lambda: "/studio/login?next=" in browser.current_url,
        timeout_s=20,
        what="the studio to ask for the login again",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{studio}/studio/preview/version", timeout=10)
    assert refused.value.code == 401


def test_an_open_preview_goes_to_the_login_when_the_session_ends(
    studio: str, browser: WebDriver
) -> None:
    pick(browser, studio, "win_back", "champions", "de")
    browser.delete_all_cookies()  # the session ended (logged out elsewhere, or expired)
    wait_until(
        lambda: "/studio/login?next=" in browser.current_url,
        timeout_s=20,
        what="the page to go to the login",
    )
    assert "message%3Dwin_back" in browser.current_url  # and back to this preview after it
