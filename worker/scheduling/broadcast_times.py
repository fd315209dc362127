"""When a broadcast's emails go: its time of day on its date in each customer's zone (or one
moment in a named zone), moved into the send window for marketing; and when the clock must
resolve its run so that the first of them is ready in time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from triggers.broadcast import Broadcast
from worker.scheduling import local_time
from worker.settings import Settings

# The zone furthest ahead of UTC (Pacific/Kiritimati, UTC+14): its 10:00 comes first; the one
# furthest behind (UTC-12) last.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=12)
# Resolved this long before the first send time: the rows exist when the relay looks.
LEAD = timedelta(minutes=10)


@dataclass(frozen=True)
class SendTime:
    due_at: datetime  # the time of day asked for, in that zone
    send_at: datetime  # the same, moved out of quiet hours for marketing


def send_time(
    broadcast: Broadcast, day: date, zone_name: str | None, settings: Settings
) -> SendTime:
    """For a customer in `zone_name` (None: the shop's zone), when this run reaches them."""
    if broadcast.in_customer_zone:
        zone = local_time.zone_of(zone_name, settings.default_timezone)
    else:
        zone = local_time.zone_of(broadcast.zone, settings.default_timezone)
    due = local_time.local_moment(day, broadcast.at, zone)
    window = settings.window if broadcast.is_marketing else None
    return SendTime(due, local_time.next_send_time(due, zone=zone, window=window))


def send_times(
    broadcast: Broadcast, day: date, zones: Iterable[str | None], settings: Settings
) -> dict[str | None, SendTime]:
    """`send_time` for each of the zones the audience's customers are in."""
    return {zone: send_time(broadcast, day, zone, settings) for zone in zones}


def resolve_at(broadcast: Broadcast, day: date, settings: Settings) -> datetime:
    """When the clock resolves the run of `day`: LEAD before its first possible send time."""
    if broadcast.in_customer_zone:
        first = local_time.local_moment(day, broadcast.at, local_time.zone_of("UTC", "UTC"))
        return first - EARLIEST_OFFSET - LEAD
    return send_time(broadcast, day, None, settings).due_at - LEAD


def last_due(broadcast: Broadcast, day: date, settings: Settings) -> datetime:
    """The latest moment the run of `day` is due anywhere: after it, and its maximum lateness,
    the run would reach nobody in time."""
    if broadcast.in_customer_zone:
        utc = local_time.zone_of("UTC", "UTC")
        return local_time.local_moment(day, broadcast.at, utc) + LATEST_OFFSET
    return send_time(broadcast, day, None, settings).due_at
