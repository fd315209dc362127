"""The shop's sending limits as plain values: quiet hours and the frequency budget's rules.

Parsed from settings, applied by scheduling (quiet hours) and delivery (the budget); no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta


@dataclass(frozen=True)
class SendWindow:
    """Local hours in which marketing may go out; `start > end` spans midnight."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_window(text: str) -> SendWindow | None:
    """ "09:00-20:00" → SendWindow; "" → None (no quiet hours). Raises ValueError."""
    if not text.strip():
        return None
    found = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if found is None:
        raise ValueError(f"{text!r} is not a send window: write e.g. '09:00-20:00', or nothing")
    start, end = time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4]))
    if start == end:
        raise ValueError(f"{text!r} is an empty send window")
    return SendWindow(start, end)


@dataclass(frozen=True)
class Rule:
    limit: int
    window: timedelta
    label: str  # "1 per day"


@dataclass(frozen=True)
class Budget:
    rules: tuple[Rule, ...]

    @classmethod
    def of(cls, *, per_day: int, per_week: int) -> Budget:
        """A limit of 0 means none."""
        rules = [
            Rule(per_day, timedelta(days=1), f"{per_day} per day"),
            Rule(per_week, timedelta(days=7), f"{per_week} per 7 days"),
        ]
        return cls(tuple(rule for rule in rules if rule.limit > 0))

    @property
    def longest(self) -> timedelta:
        return max((rule.window for rule in self.rules), default=timedelta(0))

    def has_room(self, taken_count: int) -> bool:
        """Whether one more email fits under every rule with `taken_count` already taken
        within the rules' windows, wherever in them they fall."""
        return all(taken_count < rule.limit for rule in self.rules)

    def next_allowed(self, taken: Sequence[datetime], *, now: datetime) -> tuple[datetime, str]:
        """The first moment one more email fits, given the send times already taken (those
        still to go first count as `now`; later ones are not looked at), and the rule that
        holds it back ("" if none)."""
        allowed, why = now, ""
        for rule in self.rules:
            recent = sorted(m for m in taken if now - rule.window < m <= now)
            if len(recent) >= rule.limit:
                # Once enough of them age out of the window, one more fits.
                frees_at = recent[len(recent) - rule.limit] + rule.window
                if frees_at > allowed:
                    allowed, why = frees_at, rule.label
        return allowed, why
