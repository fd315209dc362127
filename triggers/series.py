"""The content series file format (`triggers/series/*.toml`): a sequence of messages sent to
each customer of an audience at their own pace from their entry, one step every so often."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triggers.files import load_file, load_folder
from triggers.schema import SLUG, Duration, MessageClass, TimeOfDay

# The `trigger` column of a series' deliveries: "series:<name>".
PREFIX = "series:"
NAME = r"^[a-z][a-z0-9_-]{0,55}$"  # the prefix and the name fit the 64 of that column


class Series(BaseModel):
    """Each customer the audience selects gets `steps[0]` on entry, then the next step `every`
    after the last was sent, until the steps run out, they leave the audience or unsubscribe.
    See triggers/README.md, "Content series"."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=NAME)
    description: str = ""
    audience: str = "true"  # as a broadcast's: the triggers' language, resolved in SQL
    steps: tuple[Annotated[str, Field(pattern=SLUG)], ...] = Field(min_length=1, max_length=12)
    every: Duration = timedelta(days=30)
    at: TimeOfDay = time(10, 0)  # in each customer's zone
    message_class: MessageClass = Field(default="marketing", alias="class")
    priority: int = Field(default=0, ge=-100, le=100)
    max_lateness: Duration = timedelta(days=1)
    enabled: bool = True

    @field_validator("steps")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a message is twice in `steps`: each step sends its own")
        return value

    @field_validator("every")
    @classmethod
    def _a_day_at_least(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1):
            raise ValueError("`every` is at least a day (steps go out at `at`, once a day)")
        return value

    @property
    def trigger_name(self) -> str:
        return PREFIX + self.name

    @property
    def is_marketing(self) -> bool:
        return self.message_class == "marketing"

    def messages(self) -> list[str]:
        return sorted(self.steps)


def load_series(path: Path, text: str | None = None) -> Series:
    """Parses and validates one file. Raises TriggerError naming the file, line and field.
    `text`: the file's text when it is not the one on disk (published in the studio, a draft)."""
    return load_file(path, Series, text)


def load_all_series(directory: Path, overlay: Mapping[str, str] | None = None) -> list[Series]:
    """Every `*.toml` in `directory` (none if it does not exist), sorted by file name; names
    must be unique. `overlay`: the studio's published texts by file name, laid over them."""
    return load_folder(directory, load_series, overlay)
