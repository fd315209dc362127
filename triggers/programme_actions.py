"""The programme file's actions, causes and sweepstakes (`[[action]]`, `[[cause]]`,
`[[sweepstake]]`): points for what a customer does besides ordering, points given to a cause,
and prize draws whose odds are disclosed and kept above a floor. Validated with the programme,
so `ladder check` names file and line."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from triggers.schema import SLUG, format_duration, parse_duration
from worker.event_types import ACTION_EVENTS, INCOMING

MAX_ACTIONS = 20
MAX_CAUSES = 20
MAX_SWEEPSTAKES = 10
MIN_ODDS = Decimal("0.25")  # Swarm's rule: an entrant's odds no worse than one in four
# What may earn action points: the events the shop's apps send through `POST /events` (a
# review, a follow, a referral, a birthday), sign-up and survey answers, and custom ones.
ACTION_TYPES = ACTION_EVENTS | {"customer.created", "survey.answered", "survey.commented"}
# What may enter a sweepstake: the same, and the order events.
ENTRY_TYPES = ACTION_TYPES | {t for t in INCOMING if t.startswith("order.")}
_LIMIT = re.compile(r"^\s*(\d+)\s+per\s+(\S+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(_Strict):
    """At most `count` earns of one action per customer in any `period`."""

    count: int = Field(gt=0, le=1000)
    period: timedelta

    def __str__(self) -> str:
        return f"{self.count} per {format_duration(self.period)}"


def parse_limit(value: object) -> object:
    """ "1 per 30d", "3 per 7d" → Limit. Raises ValueError naming the format."""
    if not isinstance(value, str):
        return value
    found = _LIMIT.match(value)
    if found is None:
        raise ValueError(f"{value!r} is not a limit: write e.g. '1 per 30d' or '3 per 7d'")
    period = parse_duration(found[2])
    if period <= timedelta(0):
        raise ValueError(f"{value!r}: the period must be longer than 0")
    return {"count": int(found[1]), "period": period}


def _event_type(allowed: frozenset[str], what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, str) and value not in allowed and not value.startswith("custom."):
            known = ", ".join(sorted(allowed))
            raise ValueError(f"{value!r} cannot {what}; it may be one of {known}, or custom.<name>")
        return value

    return check


class Action(_Strict):
    """Points for one kind of event, at most `limit` per customer (so no one farms them)."""

    on: Annotated[str, BeforeValidator(_event_type(ACTION_TYPES, "earn action points"))]
    points: int = Field(gt=0, le=100_000)
    limit: Annotated[Limit | None, BeforeValidator(parse_limit)] = None
    # The member's tier multiplier applies to these points too (as to an order's).
    tier_multiplier: bool = False


class Cause(_Strict):
    """A cause members may give points to; the shop shows the running total."""

    name: str = Field(pattern=SLUG)
    title: str = Field(min_length=1, max_length=200)


class Sweepstake(_Strict):
    """A prize draw: entries for qualifying actions, drawn by the clock at `draw_at`.

    The disclosed odds are `winners / expected_entrants`: one entrant's chance of a prize
    when as many take part as the shop expects, each holding as many entries. `ladder check`
    refuses a sweepstake whose odds fall below `min_odds` (25 % unless set)."""

    name: str = Field(pattern=SLUG)
    title: str = Field(default="", max_length=200)
    prize: str = Field(min_length=1, max_length=200)
    # Qualifying event type → entries it gives (`"order.placed" = 1`, `"review.posted" = 2`).
    entries: dict[str, int] = Field(min_length=1, max_length=10)
    opens_at: AwareDatetime | None = None  # unset: from when the file is in force
    draw_at: AwareDatetime
    winners: int = Field(default=1, gt=0, le=1000)
    expected_entrants: int = Field(gt=0, le=100_000_000)
    min_odds: Decimal = Field(default=MIN_ODDS, gt=0, le=1)

    @model_validator(mode="after")
    def _entries_and_odds(self) -> Sweepstake:
        check = _event_type(ENTRY_TYPES, "enter a sweepstake")
        for event_type, count in self.entries.items():
            check(event_type)
            if not 0 < count <= 100:
                raise ValueError(f"entries for {event_type!r} must be 1 to 100 (it is {count})")
        if self.opens_at is not None and self.opens_at >= self.draw_at:
            raise ValueError(f"sweepstake {self.name!r}: opens_at must come before draw_at")
        if self.winners > self.expected_entrants:
            raise ValueError(f"sweepstake {self.name!r}: more winners than expected entrants")
        if self.odds < self.min_odds:
            raise ValueError(
                f"sweepstake {self.name!r}: its odds are {self.odds:.1%} ({self.winners} winners"
                f" among {self.expected_entrants} expected entrants), below the floor of"
                f" {self.min_odds:.0%}: give more winners or expect fewer entrants"
            )
        return self

    @property
    def odds(self) -> Decimal:
        return Decimal(self.winners) / Decimal(self.expected_entrants)

    def is_open(self, moment: datetime) -> bool:
        return (self.opens_at is None or moment >= self.opens_at) and moment < self.draw_at


def extras_problem(
    actions: tuple[Action, ...], causes: tuple[Cause, ...], sweepstakes: tuple[Sweepstake, ...]
) -> str | None:
    """What is wrong with them together (an event earning twice, a name used twice)."""
    ons = [action.on for action in actions]
    if len(set(ons)) != len(ons):
        return f"one action per event type: {ons}"
    for what, names in (
        ("cause", [cause.name for cause in causes]),
        ("sweepstake", [sweepstake.name for sweepstake in sweepstakes]),
    ):
        if len(set(names)) != len(names):
            return f"{what} names must be unique: {names}"
    return None
