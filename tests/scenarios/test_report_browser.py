"""`ladder report --html` as a person opens it: from disk in headless Chromium, with every
chart drawn, said in words beside it, nothing fetched, and looking as it did when reviewed.

The report is made of fixed figures (two triggers with holdouts, the whole programme against
the global holdout, four segments' CLV against CAC, three ABC classes, six months of NPS):
what this test guards is the page, not the arithmetic, which the measurement tests check
against the database."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.browser import SCREENSHOTS, assert_looks_like
from worker.authoring.report import Report
from worker.authoring.value_reporting import CustomerSections
from worker.measurement.abc import ClassSummary
from worker.measurement.lift import Group, Interval, Lift
from worker.measurement.performance import Line
from worker.measurement.surveys import Month
from worker.measurement.value import Cac, SegmentValue, ValueReport

REFERENCE = SCREENSHOTS / "report_charts.png"


def line(trigger: str, sent: int, converted: int, revenue: int) -> Line:
    return Line(trigger, "loyal", "a", "en", scheduled=sent + sent // 9, held_out=sent // 9,
                sent=sent, delivered=sent, opened=sent // 2, clicked=sent // 8,
                converted=converted, revenue=revenue)  # fmt: skip


def lift(trigger: str, mailed: tuple[int, int], held: tuple[int, int], low: float, high: float,
         *, too_small: bool = False) -> Lift:  # fmt: skip
    a, b = Group(mailed[0], mailed[1], mailed[1] * 4_000), Group(held[0], held[1], held[1] * 4_000)
    difference = a.rate - b.rate
    said = f"{trigger}: mailing changed conversion by {difference * 100:+.1f} points"
    money = Interval(a.per_customer - b.per_customer, -100.0, 900.0)
    return Lift(trigger, a, b, Interval(difference, low, high), money, too_small, said)


def fixed_report() -> Report:
    lines = [line("thank_you", 900, 210, 1_890_000), line("win_back", 400, 36, 410_000),
             line("birthday", 120, 30, 75_000)]  # fmt: skip
    found = [
        lift("birthday", (120, 30), (120, 10), 0.07, 0.26),
        lift("win_back", (400, 36), (50, 3), -0.05, 0.11, too_small=True),
        lift("all marketing", (1_300, 260), (140, 18), 0.01, 0.13),
    ]
    worth = ValueReport(
        currency="EUR",
        horizon_days=365,
        cac=[Cac("all", date(2026, 1, 1), date(2026, 7, 1), 1_250_000, 500)],
        segments=[
            SegmentValue("champions", 80, 91_000, 12_400, 0.97),
            SegmentValue("loyal", 210, 48_000, 6_100, 0.92),
            SegmentValue("at_risk", 140, 30_500, 1_900, 0.41),
            SegmentValue("new", 300, 4_200, 2_200, 0.74),
        ],
        new_customer_value=2_200,
        problem=None,
    )
    classes = [ClassSummary("A", 146, 74_000, 9_800), ClassSummary("B", 219, 21_000, 3_100),
               ClassSummary("C", 365, 5_400, 900)]  # fmt: skip
    months = [Month(f"2026-{m:02d}", 40 + m, 20 + m, 12, 8 - m // 2, 10, 5.8 + m / 20)
              for m in range(1, 7)]  # fmt: skip
    sections = CustomerSections("EUR", worth=worth, classes=classes, months=months)
    return Report("EUR", lines, found, sections)


def test_the_report_opens_from_disk_with_each_chart_drawn_and_nothing_fetched(
    browser: WebDriver, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(fixed_report().page("Demo shop: what the emails earned"), "utf-8")
    assert re.findall(r"(?:src|href)=\"(?!#)|@import|url\((?!#)|<script", page.read_text()) == []

    browser.get(page.as_uri())

    assert browser.title == "Demo shop: what the emails earned"
    figures = browser.find_elements(By.CSS_SELECTOR, "figure")
    labels = [f.find_element(By.TAG_NAME, "svg").get_attribute("aria-label") for f in figures]
    assert [label.split(":")[0] for label in labels if label] == [
        "revenue per trigger", "lift of each holdout", "CLV against CAC", "ABC classes",
        "NPS by month",
    ]  # fmt: skip
    captions = [f.find_element(By.TAG_NAME, "figcaption").text for f in figures]
    assert captions[0] == "3 triggers earned revenue; the most, 18,900.00 EUR, came from thank_you."
    assert captions[1].startswith("3 holdouts; 2 show a difference the data can tell")
    assert captions[2] == "2 of 4 segments are worth more than a new customer costs."
    assert captions[3] == "Class A: 20 % of the customers, 62 % of what they spent."
    assert captions[4] == "NPS +32 in 2026-01, +46 in 2026-06."
    for figure in figures:  # each chart is drawn at its size, not an empty box
        svg = figure.find_element(By.TAG_NAME, "svg")
        assert svg.size["width"] > 400 and svg.size["height"] > 100
    loaded = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert loaded == 0
    assert "birthday: mailing changed conversion" in browser.find_element(By.TAG_NAME, "ul").text

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height)
    assert_looks_like(browser, browser.get_screenshot_as_png(), REFERENCE)
