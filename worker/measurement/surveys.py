"""What customers answered: NPS (0-10: promoters 9-10, passives 7-8, detractors 0-6; the score
is the promoters' share minus the detractors', -100 to 100) and CES (1-7, the mean), per month,
from the `survey.answered` events (each delivery's first answer)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from models.tables import EVENTS


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    answers: int
    promoters: int
    passives: int
    detractors: int
    ces_answers: int
    ces_mean: float | None

    @property
    def nps(self) -> int | None:
        """Promoters' share minus detractors', in points; None without an NPS answer."""
        if not self.answers:
            return None
        return round(100 * (self.promoters - self.detractors) / self.answers)


def by_month(db: Session, *, since: datetime, until: datetime) -> list[Month]:
    """NPS and CES per month of the answers given in [since, until)."""
    e = EVENTS.c
    rows = db.execute(
        select(e.occurred_at, e.payload).where(
            e.type == "survey.answered",
            e.occurred_at >= since,
            e.occurred_at < until,
        )
    )
    nps: dict[str, list[int]] = defaultdict(list)
    ces: dict[str, list[int]] = defaultdict(list)
    for occurred_at, payload in rows:
        data = (payload or {}).get("data") or {}
        kind, score = data.get("kind"), data.get("score")
        if not isinstance(score, int):
            continue
        month = f"{occurred_at:%Y-%m}"
        if kind == "nps":
            nps[month].append(score)
        elif kind == "ces":
            ces[month].append(score)
    months = sorted(set(nps) | set(ces))
    return [
        Month(
            month=month,
            answers=len(nps[month]),
            promoters=sum(score >= 9 for score in nps[month]),
            passives=sum(7 <= score <= 8 for score in nps[month]),
            detractors=sum(score <= 6 for score in nps[month]),
            ces_answers=len(ces[month]),
            ces_mean=round(sum(ces[month]) / len(ces[month]), 2) if ces[month] else None,
        )
        for month in months
    ]
