"""The customer ladder's file, `measurement/rungs.toml`: its rungs in order, each a condition
over a customer's facts, read and checked with errors that name the file and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# The conditions a rung may set, each a bound on one fact; all those set must hold.
BOUNDS = ("orders", "days_since_last_order", "revenue_12m")


class SchemeError(ValueError):
    """A measurement file cannot be used; the message names the file, line and what to fix."""


class Rung(BaseModel):
    """One rung: a name and the conditions on the facts that put a customer on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME.pattern)
    description: str = ""
    beside: bool = False  # beside the main line: customers who slip off it
    orders_min: int | None = Field(default=None, ge=0)
    orders_max: int | None = Field(default=None, ge=0)
    days_since_last_order_min: int | None = Field(default=None, ge=0)
    days_since_last_order_max: int | None = Field(default=None, ge=0)
    # Net revenue of the last 365 days, in major units of the shop's currency.
    revenue_12m_min: float | None = Field(default=None, ge=0)
    revenue_12m_max: float | None = Field(default=None, ge=0)
    segments: list[str] | None = Field(default=None, min_length=1)  # RFM segment names

    @model_validator(mode="after")
    def _ordered_bounds(self) -> Rung:
        for fact in BOUNDS:
            low, high = getattr(self, f"{fact}_min"), getattr(self, f"{fact}_max")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{fact}_min ({low}) is above {fact}_max ({high})")
        return self

    def has_conditions(self) -> bool:
        bounds = (getattr(self, f"{fact}_{end}") for fact in BOUNDS for end in ("min", "max"))
        return self.segments is not None or any(value is not None for value in bounds)


class Scheme(BaseModel):
    """The ladder: `rung` in climbing order (the main line's first is its ground)."""

    model_config = ConfigDict(extra="forbid")

    rung: list[Rung] = Field(min_length=2)

    def problems(self) -> list[tuple[tuple[Any, ...], str]]:
        """What makes the rungs no ladder, each with where it is (`("rung", 2, "name")`)."""
        found: list[tuple[tuple[Any, ...], str]] = []
        names = [rung.name for rung in self.rung]
        for index, name in enumerate(names):
            if name in names[:index]:
                found.append((("rung", index, "name"), f"rung {name!r} is named twice"))
        line = [(i, rung) for i, rung in enumerate(self.rung) if not rung.beside]
        if len(line) < 2:
            found.append((("rung",), "the main line needs at least two rungs (beside = false)"))
        elif line[0][1].has_conditions():
            ground = line[0][1].name
            found.append((
                ("rung", line[0][0]),
                f"the line's first rung ({ground!r}) is its ground: it takes whoever no other"
                " rung takes, so it has no conditions",
            ))  # fmt: skip
        for index, rung in enumerate(self.rung):
            if rung.beside and not rung.has_conditions():
                message = f"rung {rung.name!r} is beside the line and needs a condition"
                found.append((("rung", index), message))
        return found

    @property
    def names(self) -> list[str]:
        return [rung.name for rung in self.rung]

    @property
    def line(self) -> list[str]:
        """The main line, climbing."""
        return [rung.name for rung in self.rung if not rung.beside]

    @property
    def beside(self) -> list[str]:
        """The rungs beside the line, as listed (a later one is graver)."""
        return [rung.name for rung in self.rung if rung.beside]

    def position(self, name: str | None) -> int:
        """Higher is better: the line climbs from 100; beside it, every rung is below the
        line, and a later one below an earlier one. Unknown (a rung since removed): -1000."""
        if name in self.line:
            return 100 + self.line.index(name)
        if name in self.beside:
            return -1 - self.beside.index(name)
        return -1000

    def direction(self, old: str | None, new: str) -> str:
        """ "up" or "down": where a move from `old` to `new` goes."""
        return "up" if self.position(new) > self.position(old) else "down"

    def at_or_above(self, name: str) -> list[str]:
        """`name` and, on the line, every rung above it: where a goal to reach `name` is met."""
        if name not in self.line:
            return [name]
        return self.line[self.line.index(name) :]


def default_path(measurement_dir: Path) -> Path:
    return measurement_dir / "rungs.toml"


def load_scheme(path: Path, *, segments: Collection[str] | None = None) -> Scheme | None:
    """The ladder in `path`; None when there is no such file (no ladder is kept: every
    `customer.rung` stays empty). `segments`: the RFM names a rung may read, checked when given.

    Raises SchemeError naming the file, line and field.
    """
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    scheme = parse(path, text, Scheme)
    for loc, message in scheme.problems()[:1]:
        field = ".".join(str(part) for part in loc if not isinstance(part, int))
        raise SchemeError(f"{locate(path, text, loc)}: {field}: {message}")
    if segments is not None:
        known = set(segments)
        for index, rung in enumerate(scheme.rung):
            for name in rung.segments or []:
                if name not in known:
                    where = locate(path, text, ("rung", index, "segments"))
                    shown = ", ".join(sorted(known))
                    raise SchemeError(f"{where}: segments: {name!r} is not a segment ({shown})")
    return scheme


def parse(path: Path, text: str, model: type[M]) -> M:
    """`text` (the file at `path`) as `model`; SchemeError at the first field it refuses."""
    try:
        return model.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise SchemeError(f"{path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in loc if not isinstance(part, int)) or "(file)"
        raise SchemeError(f"{locate(path, text, loc)}: {field}: {message}") from exc


def locate(path: Path, text: str, loc: tuple[Any, ...]) -> str:
    """`file:line` of what `loc` points at: `("rung", 2, "orders_min")` is the line setting
    `orders_min` in the third `[[rung]]` table (or that table's header, if it does not set it).
    """
    line = _line(text, loc)
    return f"{path}:{line}" if line else str(path)


def _line(text: str, loc: tuple[Any, ...]) -> int | None:
    if not loc:
        return None
    table, rest = str(loc[0]), loc[1:]
    headers = list(
        re.finditer(rf"^[ \t]*\[\[[ \t]*{re.escape(table)}[ \t]*\]\]", text, re.MULTILINE)
    )
    if not rest or not isinstance(rest[0], int) or rest[0] >= len(headers):
        if headers:
            return _number(text, headers[0].start())
        found = re.search(rf"^[ \t]*{re.escape(table)}[ \t]*=", text, re.MULTILINE)
        return _number(text, found.start()) if found else None
    start = headers[rest[0]].start()
    end = headers[rest[0] + 1].start() if rest[0] + 1 < len(headers) else len(text)
    if len(rest) > 1:
        key = str(rest[1])
        found = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.MULTILINE).search(
            text, start, end
        )
        if found:
            return _number(text, found.start())
    return _number(text, start)


def _number(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
