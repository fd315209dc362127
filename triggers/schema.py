"""The trigger file format: one TOML file, one trigger, parsed into a strict pydantic model."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from worker.event_types import trigger_problem

_DURATION = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

SLUG = r"^[a-z][a-z0-9_-]{0,63}$"
EVENT_TYPE = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"
# `on`: an event type, a customer date (birthday, first-order anniversary) or a calendar date.
DATE_FIELDS = ("customer.birthday", "customer.first_order_at")
_CALENDAR_DATE = re.compile(r"^date:(\d{2})-(\d{2})$")
_ENTRY = re.compile(
    r"^(?:[a-z][a-z_]*(?:\.[a-z][a-z_]*)+|date:(?:customer\.birthday|customer\.first_order_at|\d\d-\d\d))$"
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MessageClass = Literal["marketing", "transactional"]
# Who gets a trigger's email: the customer, or the shop itself (`SHOP_ALERTS_TO`), about the
# customer: a detractor's answer, say. An alert to the shop is transactional and earns nothing.
Recipient = Literal["customer", "shop"]
# The messages written for the shop are named so (`templates/shop_detractor/`): `ladder check`
# asks them not to carry the customer's unsubscribe link, and only `to = "shop"` sends them.
SHOP_MESSAGE_PREFIX = "shop_"
# Which of a trigger's emails earn the orders that follow them (`worker/measurement`).
AttributionRule = Literal["received", "clicked", "none"]
MAX_ATTRIBUTION_WINDOW = timedelta(days=30)


def parse_duration(value: object) -> timedelta:
    """ "2h", "60d", "1d12h", "90m", "0" → timedelta. Raises ValueError naming the format."""
    if isinstance(value, timedelta):
        return value
    text = str(value).strip().lower().replace(" ", "")
    if text == "0":
        return timedelta(0)
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{value!r} is not a duration: write e.g. '2h', '60d' or '1d12h'")
    parts: dict[str, int] = {}
    for amount, unit in _DURATION.findall(text):
        parts[_UNITS[unit]] = parts.get(_UNITS[unit], 0) + int(amount)
    return timedelta(**parts)


def parse_time_of_day(value: object) -> time:
    """ "10:00", "9:30" → time. Raises ValueError naming the format."""
    if isinstance(value, time):
        return value
    found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if found is None:
        raise ValueError(f"{value!r} is not a time of day: write e.g. '10:00' or '18:30'")
    return time(int(found[1]), int(found[2]))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeOfDay = Annotated[time, BeforeValidator(parse_time_of_day)]


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            out.append(f"{amount}{unit}")
    return "".join(out)


VARIANT = r"^[a-z][a-z0-9_-]{0,31}$"
_SHARE_SLACK = 1e-6


class Variant(BaseModel):
    """One arm of an A/B test: a share of the customers gets this message (a template folder,
    which may change only the subject by extending the trigger's or broadcast's own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=VARIANT)
    share: float = Field(gt=0, le=1)
    message: str | None = Field(default=None, pattern=SLUG)  # unset: the one of the file


def check_variants(variants: tuple[Variant, ...]) -> None:
    """Raises ValueError unless the shares add up to 1 and the names differ."""
    if not variants:
        return
    total = sum(variant.share for variant in variants)
    if abs(total - 1) > _SHARE_SLACK:
        raise ValueError(f"the variants' shares add up to {total:g}, not 1")
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ValueError("two variants have the same name")


class Trigger(BaseModel):
    """Who hears from the shop, what and when. See triggers/README.md for the marketer's view."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=SLUG)
    message: str = Field(pattern=SLUG)
    on: str
    description: str = ""
    when: str | None = None  # a Jinja expression over event, customer, order, before
    # Checked only when the email is about to go: for what the wait itself changes (the
    # segment then, not the one of the last refresh before the order that started the clock).
    send_if: str | None = None
    wait: Duration = timedelta(0)
    # Relative wait: this many times the customer's usual gap between orders, within bounds.
    wait_for_gap: float | None = Field(default=None, gt=0, le=20)
    gap_floor: Duration = timedelta(days=14)
    gap_ceiling: Duration = timedelta(days=365)
    at: TimeOfDay | None = None  # local time of day in the customer's zone
    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ()
    unless: tuple[Annotated[str, Field(pattern=EVENT_TYPE)], ...] = ()
    cooldown: Duration | None = None
    once: bool = False  # at most once per customer, ever
    # An expression: one delivery per trigger and value. Unset, a trigger started by an order
    # event makes one delivery per order (whichever events and sources tell of it), any other
    # one per event; `dedupe = "event.id"` gives an order trigger one per event again.
    dedupe: str | None = None
    holdout: float = Field(default=0.0, ge=0.0, le=0.5)  # share kept as a control group
    message_class: MessageClass = Field(default="marketing", alias="class")
    to: Recipient = "customer"
    priority: int = Field(default=0, ge=-100, le=100)  # higher wins a place in the budget
    max_lateness: Duration = timedelta(days=2)  # how far the budget may push it back
    variants: tuple[Variant, ...] = ()  # an A/B test: each customer's by a hash of their id
    enabled: bool = True
    # An order is credited to the last email its customer got (`received`) or clicked
    # (`clicked`) at most this long before it; `none`: this trigger's emails earn nothing.
    attribution: AttributionRule = "received"
    attribution_window: Duration = timedelta(days=5)

    @field_validator("on")
    @classmethod
    def _known_entry(cls, value: str) -> str:
        if not _ENTRY.match(value):
            raise ValueError(
                f"{value!r} is not an entry: write an event type ('order.placed',"
                " 'segment.entered'), 'date:customer.birthday', 'date:customer.first_order_at'"
                " or a calendar date 'date:12-20'"
            )
        if not value.startswith("date:") and (problem := trigger_problem(value)):
            raise ValueError(problem)
        found = _CALENDAR_DATE.match(value)
        if found and not (1 <= int(found[1]) <= 12 and 1 <= int(found[2]) <= 31):
            raise ValueError(
                f"{value!r} is not a calendar date: write month-day, e.g. 'date:12-20'"
            )
        return value

    @field_validator("unless")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for event_type in value:
            if problem := trigger_problem(event_type):
                raise ValueError(problem)
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: object) -> object:
        """["Mon", "tue"] or a range "mon-fri" (wrapping: "fri-mon") → ("mon", "tue", …)."""
        if isinstance(value, str) and "-" in value:
            first, last = (part.strip().lower()[:3] for part in value.split("-", 1))
            if first in WEEKDAYS and last in WEEKDAYS:
                start, end = WEEKDAYS.index(first), WEEKDAYS.index(last)
                return tuple(WEEKDAYS[(start + n) % 7] for n in range((end - start) % 7 + 1))
        if isinstance(value, list | tuple):
            return tuple(str(day).strip().lower()[:3] for day in value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _alerts_earn_nothing(cls, data: object) -> object:
        """An alert to the shop is credited with no order unless the file says otherwise
        (which `_consistent` then refuses)."""
        if isinstance(data, dict) and data.get("to") == "shop":
            return {"attribution": "none", **data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Trigger:
        if self.to_shop:
            self._check_alert()
        elif self.message.startswith(SHOP_MESSAGE_PREFIX):
            raise ValueError(
                f"message {self.message!r} is written for the shop: a trigger sending it needs"
                " to = 'shop'"
            )
        if self.gap_floor > self.gap_ceiling:
            raise ValueError("gap_floor must not be longer than gap_ceiling")
        if not timedelta(hours=1) <= self.attribution_window <= MAX_ATTRIBUTION_WINDOW:
            raise ValueError("attribution_window must be between '1h' and '30d'")
        if self.is_dated and self.wait_for_gap is not None:
            raise ValueError("wait_for_gap needs an order event, not a date")
        check_variants(self.variants)
        return self

    def _check_alert(self) -> None:
        """What an email to the shop cannot be: marketing, held out, split or credited."""
        alert = "an alert to the shop (to = 'shop')"
        if not self.message.startswith(SHOP_MESSAGE_PREFIX):
            raise ValueError(f"{alert} sends a message named {SHOP_MESSAGE_PREFIX}…")
        if self.is_marketing:
            raise ValueError(f"{alert} needs class = 'transactional'")
        if self.holdout or self.variants:
            raise ValueError(f"{alert} has no holdout and no variants")
        if self.attribution != "none":
            raise ValueError(f"{alert} earns nothing: attribution = 'none'")

    def messages(self) -> list[str]:
        """Every template folder it sends: its own and its variants'."""
        return sorted({self.message} | {v.message for v in self.variants if v.message})

    def message_of(self, variant: str | None) -> str:
        """The message a customer in `variant` gets."""
        found = next((v for v in self.variants if v.name == variant), None)
        return (found.message if found else None) or self.message

    @property
    def is_dated(self) -> bool:
        """Started by the daily date sweep rather than by an event from outside."""
        return self.on.startswith("date:")

    @property
    def is_marketing(self) -> bool:
        return self.message_class == "marketing"

    @property
    def to_shop(self) -> bool:
        """Sent to the shop's `SHOP_ALERTS_TO` about the customer, not to the customer."""
        return self.to == "shop"

    @property
    def weekdays(self) -> frozenset[int]:
        """The allowed days as `date.weekday()` numbers; empty means every day."""
        return frozenset(WEEKDAYS.index(day) for day in self.days)
