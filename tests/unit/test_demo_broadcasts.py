"""The demo's monthly letter: its last three runs fall before the day the demo runs, whatever
that day is (the demo's history ends today)."""

from __future__ import annotations

from datetime import date

import pytest

from worker.demo.broadcasting import first_of_last_runs

SEND_ON = date(2027, 1, 5)  # the shipped what's-new: the 5th of every month


@pytest.mark.parametrize(
    ("today", "first"),
    [
        (date(2026, 12, 4), date(2026, 9, 5)),  # Sep, Oct, Nov; December's still due
        (date(2026, 12, 5), date(2026, 9, 5)),  # due today: not yet among the three
        (date(2026, 12, 7), date(2026, 10, 5)),  # Oct, Nov, Dec
        (date(2027, 2, 1), date(2026, 11, 5)),  # across the new year: Nov, Dec, Jan
        (date(2027, 3, 31), date(2027, 1, 5)),  # the file's first run is the earliest
    ],
)
def test_the_three_runs_before_today(today: date, first: date) -> None:
    assert first_of_last_runs(SEND_ON, today) == first


def test_a_day_that_some_months_lack_is_their_last() -> None:
    assert first_of_last_runs(date(2027, 1, 31), date(2027, 3, 30)) == date(2026, 12, 31)
