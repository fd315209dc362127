"""The loyalty programme file (`triggers/programmes/*.toml`): earn rules, tiers and expiry,
parsed into a strict pydantic model whose errors name the file, line and field."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Sequence
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from triggers.membership import Membership, membership_problem
from triggers.programme_actions import (
    MAX_ACTIONS,
    MAX_CAUSES,
    MAX_SWEEPSTAKES,
    Action,
    Cause,
    Sweepstake,
    extras_problem,
)
from triggers.rewards import MAX_REWARDS, Reward, rewards_problem
from triggers.schema import SLUG, Duration

PROGRAMMES_DIR = "programmes"  # inside the triggers folder
MAX_TIERS = 5
# Order events that may earn: an order's points are earned once, at the first of them.
EARNING_EVENTS = ("order.placed", "order.paid", "order.fulfilled")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Earn(_Strict):
    """Points per unit of the shop's currency, net of refunds."""

    on: Literal["order.placed", "order.paid", "order.fulfilled"] = "order.placed"
    points_per_unit: Decimal = Field(default=Decimal(1), gt=0, le=1000)
    # Points stay pending this long after the order (returns), then the clock approves them.
    return_window: Duration = timedelta(days=30)


class Tier(_Strict):
    name: str = Field(pattern=SLUG)
    # The 12-month spend (in the shop's currency) or points that reach this tier.
    threshold: Decimal = Field(alias="from", ge=0)
    multiplier: Decimal = Field(default=Decimal(1), ge=1, le=10)


class Expiry(_Strict):
    """Points lapse after this long without an order; `points.expiring` comes `warn_before`."""

    after_inactivity: Duration = timedelta(days=365)
    warn_before: Duration = timedelta(days=30)


class Programme(_Strict):
    """One shop's programme. See triggers/README.md for the marketer's view."""

    name: str = Field(pattern=SLUG)
    description: str = ""
    tiers_by: Literal["spend", "points"] = "spend"  # over the last 12 months
    tier_period: Duration = timedelta(days=365)
    downgrade_grace: Duration = timedelta(days=30)
    earn: Earn = Earn()
    expiry: Expiry = Expiry()
    tier: tuple[Tier, ...] = Field(default=(), max_length=MAX_TIERS)
    reward: tuple[Reward, ...] = Field(default=(), max_length=MAX_REWARDS)
    action: tuple[Action, ...] = Field(default=(), max_length=MAX_ACTIONS)
    cause: tuple[Cause, ...] = Field(default=(), max_length=MAX_CAUSES)
    sweepstake: tuple[Sweepstake, ...] = Field(default=(), max_length=MAX_SWEEPSTAKES)
    membership: Membership | None = None  # a paid membership (triggers/membership.py)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> Programme:
        names = [tier.name for tier in self.tier]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique: {names}")
        thresholds = [tier.threshold for tier in self.tier]
        if thresholds and thresholds[0] != 0:
            raise ValueError("the first tier must start `from = 0` (every member has a tier)")
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tiers must be listed lowest first, each `from` above the last")
        if self.expiry.warn_before >= self.expiry.after_inactivity:
            raise ValueError("expiry.warn_before must be shorter than expiry.after_inactivity")
        if (problem := rewards_problem(self.reward)) is not None:
            raise ValueError(problem)
        if (problem := extras_problem(self.action, self.cause, self.sweepstake)) is not None:
            raise ValueError(problem)
        if (problem := membership_problem(self.membership, self.reward)) is not None:
            raise ValueError(problem)
        return self

    def action_on(self, event_type: str) -> Action | None:
        return next((action for action in self.action if action.on == event_type), None)

    def named_cause(self, name: str) -> Cause | None:
        return next((cause for cause in self.cause if cause.name == name), None)

    def named_sweepstake(self, name: str) -> Sweepstake | None:
        return next((s for s in self.sweepstake if s.name == name), None)

    def named_reward(self, name: str) -> Reward | None:
        return next((reward for reward in self.reward if reward.name == name), None)

    def tier_for(self, value: Decimal) -> Tier | None:
        """The highest tier `value` (12-month spend or points) reaches; None without tiers."""
        reached = [tier for tier in self.tier if value >= tier.threshold]
        return reached[-1] if reached else None

    def named_tier(self, name: str | None) -> Tier | None:
        return next((tier for tier in self.tier if tier.name == name), None)

    def next_tier(self, name: str | None) -> Tier | None:
        """The tier above `name` (the first one for no tier); None at the top."""
        names = [tier.name for tier in self.tier]
        position = names.index(name) + 1 if name in names else 0
        return self.tier[position] if position < len(self.tier) else None

    def points_for(self, amount_minor: int, *, digits: int, multiplier: Decimal) -> int:
        """Whole points for an amount in minor units (`digits` of them to the main unit) of
        the shop's currency, rounded down."""
        units = Decimal(amount_minor).scaleb(-digits)
        points = units * self.earn.points_per_unit * multiplier
        return int(points.to_integral_value(rounding=ROUND_FLOOR))


class ProgrammeError(Exception):
    """A programme file that cannot be used, with the file, line and field to fix."""

    def __init__(self, path: Path, message: str, *, line: int | None = None, field: str = ""):
        self.path, self.line, self.field = path, line, field
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


def line_of_field(text: str, loc: Sequence[int | str]) -> int | None:
    """The line setting the field at pydantic's `loc` (`("tier", 1, "from")`: the `from` in
    the second `[[tier]]` table); a table's header line for the table itself; None if unset."""
    lines = text.splitlines()
    start, end = 0, _next_header(lines, 0)  # the top-level keys come before any table
    line: int | None = None
    parts = list(loc)
    while parts:
        part = str(parts.pop(0))
        index = parts.pop(0) if parts and isinstance(parts[0], int) else None
        header = _header_line(lines, part, index)
        if header is None:
            key = re.compile(rf"^\s*{re.escape(part)}\s*=")
            found = next((n for n in range(start, end) if key.match(lines[n])), None)
            return found + 1 if found is not None else line
        start, end = header, _next_header(lines, header + 1)
        line = header + 1
    return line


def _header_line(lines: list[str], name: str, index: int | str | None) -> int | None:
    if isinstance(index, int):  # an array of tables: the index-th `[[name]]`
        pattern = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
        found = [n for n, line in enumerate(lines) if pattern.match(line)]
        return found[index] if index < len(found) else (found[0] if found else None)
    pattern = re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]")
    return next((n for n, line in enumerate(lines) if pattern.match(line)), None)


def _next_header(lines: list[str], start: int) -> int:
    return next(
        (n for n in range(start, len(lines)) if lines[n].lstrip().startswith("[")), len(lines)
    )


_TABLES: dict[str, type[BaseModel]] = {
    "earn": Earn,
    "expiry": Expiry,
    "tier": Tier,
    "reward": Reward,
    "action": Action,
    "cause": Cause,
    "sweepstake": Sweepstake,
    "membership": Membership,
}


def _hint(error: Any) -> str:
    """For a misspelt field, the field meant; the fields of its table otherwise."""
    if error["type"] != "extra_forbidden":
        return ""
    tables = [part for part in error["loc"][:-1] if isinstance(part, str)]
    model = _TABLES.get(tables[-1], Programme) if tables else Programme
    known = sorted(field.alias or name for name, field in model.model_fields.items())
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    return f" (hint: did you mean {close[0]!r}?)" if close else f" (it has {', '.join(known)})"


def load_programme_file(path: Path) -> Programme:
    """Parses and validates one programme file. Raises ProgrammeError naming file and line."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found[1]) if found else None
        raise ProgrammeError(path, f"not valid TOML: {exc}", line=line) from exc
    try:
        return Programme.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = tuple(first["loc"])
        field = ".".join(str(part) for part in loc) or "(file)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = str(first["msg"]).removeprefix("Value error, ") + _hint(first) + more
        line = line_of_field(text, loc) if loc else _whole_programme_line(text, message)
        raise ProgrammeError(path, message, line=line, field=field) from exc


def _whole_programme_line(text: str, message: str) -> int | None:
    """Where a whole-programme mistake is best shown: the first reward for the rewards'
    (a name used twice), the first tier otherwise (tiers out of order)."""
    if message.startswith(("reward names", "one reward per")):
        return line_of_field(text, ("reward", 0)) or 1
    for table in ("action", "cause", "sweepstake"):
        if message.startswith((f"one {table} per", f"{table} names")):
            return line_of_field(text, (table, 0)) or 1
    if message.startswith(("membership.", "reward ")):  # the dividend's share or its reward
        return line_of_field(text, ("membership", "dividend_share")) or 1
    return line_of_field(text, ("tier", 0)) or 1


def programme_files(triggers_dir: Path) -> list[Path]:
    return sorted((triggers_dir / PROGRAMMES_DIR).glob("*.toml"))


def load_programmes(triggers_dir: Path) -> dict[str, tuple[Path, Programme]]:
    """Every programme file, by its name. Raises ProgrammeError for a file that does not
    validate, or for a name two files use."""
    found: dict[str, tuple[Path, Programme]] = {}
    for path in programme_files(triggers_dir):
        programme = load_programme_file(path)
        if programme.name in found:
            line = line_of_field(path.read_text(encoding="utf-8"), ("name",))
            other = found[programme.name][0].name
            message = f"name {programme.name!r} is already used by {other}"
            raise ProgrammeError(path, message, line=line, field="name")
        found[programme.name] = (path, programme)
    return found


def load_programme(triggers_dir: Path, name: str | None) -> Programme | None:
    """The programme called `name` (LOYALTY_PROGRAMME), None when none is chosen. Raises
    ProgrammeError for any programme file that does not validate, or for a name no file has:
    a shop that chose a programme must not run silently without it."""
    programmes = load_programmes(triggers_dir)
    if name is None:
        return None
    if name not in programmes:
        have = ", ".join(sorted(programmes)) or "none"
        raise ProgrammeError(
            triggers_dir / PROGRAMMES_DIR,
            f"LOYALTY_PROGRAMME is {name!r}, but no programme file has that name (they have:"
            f" {have})",
        )
    return programmes[name][1]
