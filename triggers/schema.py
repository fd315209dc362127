"""The trigger file format: one TOML file, one trigger, parsed into a strict pydantic model."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

SLUG = r"^[a-z][a-z0-9_-]{0,63}$"
EVENT_TYPE = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"


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


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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


class Trigger(BaseModel):
    """Who hears from the shop, what and when. See triggers/README.md for the marketer's view."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=SLUG)
    message: str = Field(pattern=SLUG)
    on: str = Field(pattern=EVENT_TYPE)
    description: str = ""
    when: str | None = None  # a Jinja expression over event, customer, order, before
    wait: Duration = timedelta(0)
    unless: tuple[Annotated[str, Field(pattern=EVENT_TYPE)], ...] = ()
    cooldown: Duration | None = None
    enabled: bool = True
    # Marketing mail needs consent and carries List-Unsubscribe; transactional mail does not.
    message_class: Literal["marketing", "transactional"] = Field(default="marketing", alias="class")
