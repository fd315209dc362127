"""Headless Chromium for the pages people look at (Debian's `chromium` and `chromium-driver`,
driven by Selenium), and screenshots compared with a reference kept in the repo.

References are refreshed with `make snapshots` (UPDATE_SNAPSHOTS=1), then reviewed.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).parents[1] / "scenarios" / "screenshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
MAX_DIFFERENT_PIXELS = 0.01  # anti-aliasing may move a few pixels; a layout change moves many


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for path, package in (
        (CHROMIUM, "chromium"),
        (CHROMEDRIVER, "chromium-driver"),
        ("/usr/share/fonts/truetype/liberation", "fonts-liberation"),
        ("/usr/share/fonts/truetype/dejavu", "fonts-dejavu-core"),
    ):
        assert Path(path).exists(), (
            f"{path} is missing: install Debian's {package} (`make test` installs the browser"
            " and its fonts when run as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1280,1000",
        "--font-render-hinting=none",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def different_pixels(driver: WebDriver, first: bytes, second: bytes) -> float:
    """The share of pixels that differ between two PNGs, measured by the browser's canvas."""
    script = """
    const [a, b, done] = arguments;
    const load = (data) => new Promise((ok) => {
      const image = new Image(); image.onload = () => ok(image); image.src = data; });
    Promise.all([load(a), load(b)]).then(([one, two]) => {
      if (one.width !== two.width || one.height !== two.height) { done(1); return; }
      const pixels = (image) => {
        const canvas = document.createElement("canvas");
        canvas.width = image.width; canvas.height = image.height;
        const context = canvas.getContext("2d"); context.drawImage(image, 0, 0);
        return context.getImageData(0, 0, image.width, image.height).data;
      };
      const p = pixels(one), q = pixels(two);
      let different = 0;
      for (let i = 0; i < p.length; i += 4) {
        const distance = Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1])
          + Math.abs(p[i + 2] - q[i + 2]);
        if (distance > 48) different++;
      }
      done(different / (p.length / 4));
    });
    """

    def url(png: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(png).decode()

    share: float = driver.execute_async_script(script, url(first), url(second))
    return share


def assert_looks_like(driver: WebDriver, shot: bytes, reference: Path) -> None:
    """`shot` differs from the reference PNG in at most MAX_DIFFERENT_PIXELS of its pixels;
    with UPDATE_SNAPSHOTS=1 (or no reference yet) it becomes the reference."""
    if UPDATE or not reference.exists():
        reference.parent.mkdir(parents=True, exist_ok=True)
        reference.write_bytes(shot)
        assert UPDATE, f"wrote a first {reference.name}: review it and commit it"
    share = different_pixels(driver, shot, reference.read_bytes())
    assert share <= MAX_DIFFERENT_PIXELS, (
        f"the page differs from {reference.name} in {share:.1%} of its pixels: "
        "if the change is intended, run `make snapshots` and review the image"
    )


def text_on_page(driver: WebDriver, element_id: str | None = None) -> str:
    """The text of the element `element_id` (or of the body), or "" while it is not on the
    page or the page is being replaced (a form's answer loading): found in the old page and
    read in the new, it is stale, or to Chromium's inspector a node that "does not belong to
    the document"."""
    try:
        found = (
            driver.find_element(By.ID, element_id)
            if element_id is not None
            else driver.find_element(By.TAG_NAME, "body")
        )
        return str(found.text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc.msg):
            return ""
        raise
