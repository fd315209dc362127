"""Timing: waits, time of day, weekdays and quiet hours in the customer's zone, across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.limits import SendWindow, parse_window
from worker.scheduling.local_time import (
    next_send_time,
    relative_wait,
    usual_gap,
    zone_of,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")
DAYTIME = SendWindow(time(9), time(20))
WEEKDAYS = frozenset(range(5))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


def test_wait_three_days_then_the_next_weekday_at_ten_local() -> None:
    # Thursday 13:00 in Madrid + 3 days is Sunday 13:00: the next weekday at 10:00 is Monday.
    due = next_send_time(
        utc(2026, 11, 26, 12), zone=MADRID, wait=timedelta(days=3), at=time(10), weekdays=WEEKDAYS
    )
    assert due == utc(2026, 11, 30, 9)  # 10:00 CET


def test_at_ten_is_ten_local_on_the_day_clocks_spring_forward() -> None:
    due = next_send_time(utc(2026, 3, 28, 12), zone=BERLIN, at=time(10))
    assert due == utc(2026, 3, 29, 8)  # 10:00 CEST, UTC+2 since 02:00 that night


def test_at_ten_is_ten_local_on_the_day_clocks_fall_back() -> None:
    due = next_send_time(utc(2026, 10, 24, 12), zone=BERLIN, at=time(10))
    assert due == utc(2026, 10, 25, 9)  # 10:00 CET, UTC+1 since 03:00 that night


def test_a_time_that_does_not_exist_lands_just_after_the_gap() -> None:
    due = next_send_time(utc(2026, 3, 28, 12), zone=BERLIN, at=time(2, 30))
    assert due == utc(2026, 3, 29, 1, 30)  # 03:30 CEST: 02:30 was skipped
    assert due.astimezone(BERLIN).hour == 3


def test_a_time_that_happens_twice_is_its_first_occurrence() -> None:
    due = next_send_time(utc(2026, 10, 24, 12), zone=BERLIN, at=time(2, 30))
    assert due == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not the 02:30 CET an hour later


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # New York springs forward on 2026-03-08: 21:00 EST Saturday → 09:00 EDT Sunday.
        (utc(2026, 3, 8, 2), utc(2026, 3, 8, 13)),
        # …and falls back on 2026-11-01: 21:00 EDT Saturday → 09:00 EST Sunday.
        (utc(2026, 11, 1, 1), utc(2026, 11, 1, 14)),
        # Inside the window it goes as it is.
        (utc(2026, 3, 9, 15), utc(2026, 3, 9, 15)),
        # Early morning: later the same day.
        (utc(2026, 11, 2, 11), utc(2026, 11, 2, 14)),
    ],
)
def test_quiet_hours_move_a_delivery_to_the_next_local_window_start(
    start: datetime, expected: datetime
) -> None:
    assert next_send_time(start, zone=NEW_YORK, window=DAYTIME) == expected


def test_the_window_end_is_outside_it() -> None:
    eight_pm = datetime(2026, 6, 1, 20, tzinfo=BERLIN)
    assert next_send_time(eight_pm, zone=BERLIN, window=DAYTIME) == datetime(
        2026, 6, 2, 9, tzinfo=BERLIN
    )


def test_a_window_may_span_midnight() -> None:
    night = SendWindow(time(22), time(6))
    noon = datetime(2026, 6, 1, 12, tzinfo=BERLIN)
    assert next_send_time(noon, zone=BERLIN, window=night) == datetime(
        2026, 6, 1, 22, tzinfo=BERLIN
    )
    assert night.contains(time(1)) and not night.contains(time(6))


def test_quiet_hours_and_weekdays_together_settle_on_a_weekday_morning() -> None:
    friday_night = datetime(2026, 6, 5, 21, tzinfo=BERLIN)
    due = next_send_time(friday_night, zone=BERLIN, weekdays=WEEKDAYS, window=DAYTIME)
    assert due == datetime(2026, 6, 8, 9, tzinfo=BERLIN)  # Monday 09:00


def test_parse_window_reads_the_setting_and_refuses_nonsense() -> None:
    assert parse_window("09:00-20:00") == DAYTIME
    assert parse_window("") is None
    with pytest.raises(ValueError, match="not a send window"):
        parse_window("9 to 5")


def test_an_unknown_zone_falls_back_to_the_shops() -> None:
    assert zone_of("Mars/Olympus", "Europe/Berlin") == BERLIN
    assert zone_of(None, "Europe/Berlin") == BERLIN
    assert zone_of("America/New_York", "Europe/Berlin") == NEW_YORK


def test_a_relative_wait_follows_the_customers_rhythm_within_its_bounds() -> None:
    gap = usual_gap(3, utc(2026, 1, 1), utc(2026, 3, 2))  # 60 days over two gaps
    assert gap == timedelta(days=30)
    bounds = {"floor": timedelta(days=14), "ceiling": timedelta(days=90)}
    fallback = timedelta(days=60)
    assert relative_wait(gap, factor=2.0, **bounds, fallback=fallback) == timedelta(days=60)
    assert relative_wait(gap, factor=4.0, **bounds, fallback=fallback) == timedelta(days=90)
    assert relative_wait(gap, factor=0.1, **bounds, fallback=fallback) == timedelta(days=14)
    assert relative_wait(usual_gap(1, None, None), factor=2.0, **bounds, fallback=fallback) == (
        fallback
    )
