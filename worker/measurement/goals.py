"""Migration goals (`measurement/goals.toml`): of the customers on a rung when a goal starts,
the share to bring to another (or higher on the line) by a deadline, and how far along it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, literal, select
from sqlmodel import Session

from models.tables import LADDER_MOVES
from models.types import UTCDateTime
from triggers.schema import Duration
from worker.measurement.migration import rung_at
from worker.measurement.rung_scheme import Scheme, SchemeError, locate, parse

M = LADDER_MOVES.c
STATUSES = ("not started", "no cohort", "on track", "behind", "met", "missed")


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=80)
    from_rung: str = Field(alias="from")
    to_rung: str = Field(alias="to")
    share: float = Field(gt=0, le=1)  # 0.12: 12 % of those on `from` when the goal starts
    start: date
    deadline: date | None = None
    within: Duration | None = None  # instead of a deadline: "90d" after the start
    triggers: list[str] = Field(default_factory=list)  # the triggers working for it

    @model_validator(mode="after")
    def _one_end(self) -> Goal:
        if (self.deadline is None) == (self.within is None):
            raise ValueError("set either deadline (a date) or within (e.g. '90d'), not both")
        if self.ends_on <= self.start:
            raise ValueError(f"the deadline ({self.ends_on}) must come after start ({self.start})")
        if self.from_rung == self.to_rung:
            raise ValueError(f"from and to are both {self.from_rung!r}")
        return self

    @property
    def ends_on(self) -> date:
        if self.deadline is not None:
            return self.deadline
        assert self.within is not None
        return self.start + self.within


class Goals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: list[Goal] = Field(default_factory=list)


def goals_path(measurement_dir: Path) -> Path:
    return measurement_dir / "goals.toml"


def load_goals(
    path: Path, scheme: Scheme | None, *, triggers: set[str] | None = None
) -> list[Goal]:
    """The goals in `path` ([] without the file), their rungs checked against `scheme` and,
    given `triggers` (the trigger names), the triggers they name. Raises SchemeError naming
    the file and line."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    goals = parse(path, text, Goals).goal
    if goals and scheme is None:
        raise SchemeError(f"{path}: goals need a ladder: there is no rungs.toml beside it")
    for index, goal in enumerate(goals):
        assert scheme is not None
        for key, rung in (("from", goal.from_rung), ("to", goal.to_rung)):
            if rung not in scheme.names:
                where = locate(path, text, ("goal", index, key))
                known = ", ".join(scheme.names)
                raise SchemeError(f"{where}: {key}: {rung!r} is not a rung ({known})")
        for name in goal.triggers:
            if triggers is not None and name not in triggers:
                where = locate(path, text, ("goal", index, "triggers"))
                raise SchemeError(f"{where}: triggers: no trigger is named {name!r}")
    return goals


@dataclass(frozen=True)
class Progress:
    goal: Goal
    cohort: int  # customers on `from` when the goal started
    reached: int  # of them, those who reached `to` (or higher on the line) since
    status: str  # one of STATUSES
    expected: float  # the share the goal's pace asks for by now (the target at the deadline)

    @property
    def share(self) -> float | None:
        return self.reached / self.cohort if self.cohort else None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def progress(db: Session, scheme: Scheme, goal: Goal, *, now: datetime) -> Progress:
    """How far `goal` is: its cohort (on `from` as its start day began), those of them who
    moved onto `to` or a rung above it on the line since (up to the deadline, or now), and
    whether that is met, on track (the pace a straight line from 0 to the target by the
    deadline asks for), behind, or missed once the deadline has passed."""
    start, deadline = _midnight(goal.start), _midnight(goal.ends_on)
    if now < start:
        return Progress(goal, 0, 0, "not started", 0.0)
    end = min(now, deadline)
    at_start = rung_at(start)
    cohort = select(at_start.c.customer_id).where(at_start.c.rung == goal.from_rung)
    count = db.execute(select(func.count()).select_from(cohort.subquery())).scalar_one()
    reached = db.execute(
        select(func.count(func.distinct(M.customer_id))).where(
            M.customer_id.in_(cohort),
            M.to_rung.in_(scheme.at_or_above(goal.to_rung)),
            M.moved_at >= literal(start, UTCDateTime()),
            M.moved_at < literal(end, UTCDateTime()),
        )
    ).scalar_one()
    elapsed = (end - start) / (deadline - start)
    expected = goal.share * elapsed
    share = reached / count if count else 0.0
    if not count:
        status = "no cohort"
    elif share >= goal.share:
        status = "met"
    elif now >= deadline:
        status = "missed"
    else:
        status = "on track" if share >= expected else "behind"
    return Progress(goal, int(count), int(reached), status, expected)
