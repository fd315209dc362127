"""When a delivery is due: wait, time of day, weekdays and quiet hours in the customer's zone.

Pure functions over aware datetimes. Local times are built with zoneinfo and compared in UTC,
so a nonexistent local time (spring forward) lands just after the gap and an ambiguous one
(fall back) on its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.limits import SendWindow

# Each adjustment moves forward to a later day at most: a week of them always settles.
_MAX_ROUNDS = 16


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """The customer's zone, else the shop's; an unknown name falls back to the shop's."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local_moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at `at` in `zone`, as UTC."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_send_time(
    start: datetime,
    *,
    zone: ZoneInfo,
    wait: timedelta = timedelta(0),
    at: time | None = None,
    weekdays: frozenset[int] = frozenset(),
    window: SendWindow | None = None,
) -> datetime:
    """The first moment at or after `start + wait` that is at `at` (local), on an allowed
    weekday and inside the send window. Returns UTC."""
    due = (start + wait).astimezone(UTC)
    if at is not None:
        day = due.astimezone(zone).date()
        candidate = local_moment(day, at, zone)
        due = candidate if candidate >= due else local_moment(day + timedelta(days=1), at, zone)
    for _ in range(_MAX_ROUNDS):
        moved = _into_window(_onto_weekday(due, zone, weekdays, at or _start(window)), zone, window)
        if moved == due:
            break
        due = moved
    return due


def _start(window: SendWindow | None) -> time | None:
    return window.start if window else None


def _onto_weekday(
    due: datetime, zone: ZoneInfo, weekdays: frozenset[int], at: time | None
) -> datetime:
    """The next allowed weekday: `at` on it (or its midnight); `due` itself if allowed."""
    local = due.astimezone(zone)
    if not weekdays or local.weekday() in weekdays:
        return due
    day = local.date()
    for offset in range(1, 8):
        later = day + timedelta(days=offset)
        if later.weekday() in weekdays:
            return local_moment(later, at or time(0), zone)
    return due


def _into_window(due: datetime, zone: ZoneInfo, window: SendWindow | None) -> datetime:
    """`due` if inside the window, else the next start of the window."""
    if window is None:
        return due
    local = due.astimezone(zone)
    if window.contains(local.time()):
        return due
    today = local_moment(local.date(), window.start, zone)
    return (
        today if today > due else local_moment(local.date() + timedelta(days=1), window.start, zone)
    )


def usual_gap(
    orders_count: int, first_order_at: datetime | None, last_order_at: datetime | None
) -> timedelta | None:
    """The customer's average time between orders; None with fewer than two orders."""
    if orders_count < 2 or first_order_at is None or last_order_at is None:
        return None
    return (last_order_at - first_order_at) / (orders_count - 1)


def relative_wait(
    gap: timedelta | None,
    *,
    factor: float,
    floor: timedelta,
    ceiling: timedelta,
    fallback: timedelta,
) -> timedelta:
    """`factor` times the usual gap, kept within [floor, ceiling]; `fallback` without a gap."""
    if gap is None:
        return fallback
    return min(max(gap * factor, floor), ceiling)
