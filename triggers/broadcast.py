"""The broadcast file format (`triggers/broadcasts/*.toml`): one message to an audience at a
send time, with optional A/B variants (and a test-then-winner); parsed into a strict pydantic
model, loaded with the file, line and field of any mistake, as trigger files are."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triggers.files import load_file, load_folder
from triggers.schema import SLUG, Duration, MessageClass, TimeOfDay, Variant, check_variants

# The `trigger` column of a broadcast's deliveries: "broadcast:<name>", never a trigger's name.
PREFIX = "broadcast:"
NAME = r"^[a-z][a-z0-9_-]{0,53}$"  # the prefix and the name fit the 64 of that column
CUSTOMER_ZONE = "customer"


# What a test-then-winner compares among its variants: the share of their emails sent that
# were opened, clicked or credited with an order, or the revenue per email sent.
WinnerMetric = Literal["opened", "clicked", "bought", "revenue"]


class WinnerTest(BaseModel):
    """`[test]`: a share of the audience gets the variants; after `wait`, the variant that did
    best by `metric` goes to the rest (at the same time of day, `wait` later)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(gt=0, lt=1)
    metric: WinnerMetric = "clicked"
    wait: Duration = timedelta(days=1)


class Broadcast(BaseModel):
    """A message to everyone an audience condition selects, once (or monthly), at a time of
    day in each customer's zone or at one moment. See triggers/README.md, "Broadcasts"."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=NAME)
    message: str = Field(pattern=SLUG)
    description: str = ""
    # A condition over `customer` in the triggers' language; resolved in SQL (a subset).
    audience: str = "true"
    send_on: date = Field(alias="date")  # the (first) date it goes out
    at: TimeOfDay = time(10, 0)
    # "customer": `at` in each customer's zone; an IANA zone: one moment for everyone.
    zone: str = CUSTOMER_ZONE
    repeat: Literal["monthly"] | None = None
    message_class: MessageClass = Field(default="marketing", alias="class")
    priority: int = Field(default=0, ge=-100, le=100)  # as a trigger's: higher wins the budget
    max_lateness: Duration = timedelta(days=1)  # how far quiet hours or the budget may push it
    variants: tuple[Variant, ...] = ()
    test: WinnerTest | None = None  # test-then-winner, for a broadcast with variants
    enabled: bool = True

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value == CUSTOMER_ZONE:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone: write 'customer' (each customer's own) or an"
                " IANA name such as 'Europe/Berlin'"
            ) from None
        return value

    @model_validator(mode="after")
    def _shares(self) -> Broadcast:
        check_variants(self.variants)
        return self

    @model_validator(mode="after")
    def _test(self) -> Broadcast:
        if self.test is None:
            return self
        if len(self.variants) < 2:
            raise ValueError("a [test] needs two [[variants]] or more to pick a winner from")
        wait = self.test.wait
        if self.in_customer_zone and (wait < timedelta(days=1) or wait % timedelta(days=1)):
            raise ValueError(
                "in each customer's zone the rest get the winner at the same time of day on a"
                " later date: write the test's wait in whole days ('1d', '2d')"
            )
        if wait < timedelta(hours=1):
            raise ValueError("a test's wait of under an hour leaves too little to compare")
        return self

    @property
    def trigger_name(self) -> str:
        """What its deliveries carry in their `trigger` column."""
        return PREFIX + self.name

    @property
    def is_marketing(self) -> bool:
        return self.message_class == "marketing"

    @property
    def in_customer_zone(self) -> bool:
        return self.zone == CUSTOMER_ZONE

    def messages(self) -> list[str]:
        """Every template folder it sends: its own and its variants'."""
        return sorted({self.message} | {v.message for v in self.variants if v.message})

    def occurrence(self, after: date) -> date | None:
        """Its first date on or after `after`: `date` itself, or for a monthly one the same day
        of a later month (the month's last day when it is shorter). None when it is past."""
        if self.repeat is None:
            return self.send_on if self.send_on >= after else None
        months = max(0, (after.year - self.send_on.year) * 12 + after.month - self.send_on.month)
        while True:
            day = months_later(self.send_on, months)
            if day >= after:
                return day
            months += 1

    def next_after(self, day: date) -> date | None:
        """A monthly broadcast's date in the month after `day`'s (on its day of the month, or
        the month's last day when it is shorter); None for a one-off."""
        if self.repeat is None:
            return None
        following = months_later(date(day.year, day.month, 1), 1)
        last = calendar.monthrange(following.year, following.month)[1]
        return following.replace(day=min(self.send_on.day, last))


def months_later(start: date, months: int) -> date:
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def load_broadcast(path: Path, text: str | None = None) -> Broadcast:
    """Parses and validates one file. Raises TriggerError naming the file, line and field.
    `text`: the file's text when it is not the one on disk (published in the studio, a draft)."""
    return load_file(path, Broadcast, text)


def load_broadcasts(directory: Path, overlay: Mapping[str, str] | None = None) -> list[Broadcast]:
    """Every `*.toml` in `directory` (none if it does not exist), sorted by file name; names
    must be unique. `overlay`: the studio's published texts by file name, laid over them."""
    return load_folder(directory, load_broadcast, overlay)
