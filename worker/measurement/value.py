"""Lifetime value against what a new customer costs: CLV:CAC per segment, and whether a unit of
money does more winning new customers or keeping these.

CAC comes from `measurement/acquisition.toml`: the marketing spend of each period (optionally per
acquisition source) and, unless given, the new customers counted from first orders in it. A
kept customer's value is what the CLV models predict for them over the horizon
(`customer.clv`); a new customer's is what the same models expect of a customer in the horizon
after their first order (first order included), at the shop's mean spend per purchase.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlmodel import Session

from models.tables import CUSTOMERS
from models.types import to_major, to_minor
from worker.measurement import predictions

# The segments a shop would spend on keeping (worker/audience/segments.py): gone quiet, not lost.
QUIETING = ("at_risk", "hibernating")


class AcquisitionError(ValueError):
    """The acquisition file cannot be used; the message names the file and what to fix."""


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date
    spend: Decimal = Field(ge=0)  # in the shop's currency
    new_customers: int | None = Field(default=None, ge=0)  # counted from first orders if absent
    source: str = "all"

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Acquisition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: list[Period] = Field(default_factory=list)


def load_acquisition(path: Path) -> Acquisition:
    """The periods in `path`; none when there is no such file."""
    if not path.exists():
        return Acquisition()
    try:
        return Acquisition.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise AcquisitionError(f"{path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise AcquisitionError(f"{path}: {where}: {message}") from exc


@dataclass(frozen=True)
class Cac:
    source: str
    start: date
    end: date
    spend: int  # minor units of the shop's currency
    new_customers: int

    @property
    def per_customer(self) -> int | None:
        return round(self.spend / self.new_customers) if self.new_customers else None


@dataclass(frozen=True)
class SegmentValue:
    segment: str
    customers: int
    historic: int  # mean total spent so far, minor units
    predicted: int | None  # mean `clv` (the horizon ahead), minor units
    p_alive: float | None


@dataclass(frozen=True)
class ValueReport:
    currency: str
    horizon_days: int
    cac: list[Cac]
    segments: list[SegmentValue]
    new_customer_value: int | None  # what a new customer is expected to bring in the horizon
    problem: str | None  # why the models are not fitted, if they are not

    @property
    def latest_cac(self) -> int | None:
        known = [c for c in self.cac if c.per_customer is not None and c.source == "all"]
        known = known or [c for c in self.cac if c.per_customer is not None]
        return max(known, key=lambda c: c.end).per_customer if known else None

    def ratio(self, segment: SegmentValue) -> float | None:
        cac = self.latest_cac
        if not cac or segment.predicted is None:
            return None
        return segment.predicted / cac

    def money(self, minor: int) -> str:
        return f"{to_major(minor, self.currency):,.2f} {self.currency}"

    def verdict(self) -> str:
        """Where the next unit of money does more, in a sentence."""
        cac, new = self.latest_cac, self.new_customer_value
        money = self.money
        if cac is None:
            return (
                "No acquisition cost known: add the marketing spend per period to "
                "measurement/acquisition.toml to compare winning customers with keeping them."
            )
        if new is None:
            return f"A new customer costs {money(cac)}; {self.problem or 'no CLV fit yet'}."
        at_risk = [s for s in self.segments if s.segment in QUIETING]
        kept = max(
            (s for s in at_risk if s.predicted), key=lambda s: s.predicted or 0, default=None
        )
        net_new = new - cac
        words = (
            f"A new customer costs {money(cac)} to win and is expected to bring {money(new)} in "
            f"their first {self.horizon_days} days ({money(net_new)} after the cost)."
        )
        if kept is None:
            return words
        better = "keeping them" if (kept.predicted or 0) > net_new else "winning new customers"
        return (
            f"{words} An {kept.segment} customer kept is expected to bring "
            f"{money(kept.predicted or 0)}: per customer, {better} returns more."
        )


def report(
    db: Session,
    *,
    now: datetime,
    currency: str,
    horizon_days: int,
    path: Path,
    fitted: predictions.Fitted | None = None,
) -> ValueReport:
    """CAC per period, and per segment the customers' historic and predicted value; a new
    customer's from `fitted` (the weekly fit, or one as of `now`'s day), fitted as of `now`'s
    day when not given."""
    acquisition = load_acquisition(path)
    cac = [_cac(db, period, currency) for period in acquisition.period]
    c = CUSTOMERS.c
    rows = db.execute(
        select(
            c.segment,
            func.count(),
            func.avg(c.total_spent),
            func.avg(c.clv),
            func.avg(c.p_alive),
        )
        .where(c.orders_count > 0)
        .group_by(c.segment)
        .order_by(func.avg(c.clv).desc())
    ).all()
    segments = [
        SegmentValue(
            segment=segment or "-",
            customers=int(count),
            historic=round(float(historic or 0)),
            predicted=None if predicted is None else round(float(predicted)),
            p_alive=None if alive is None else round(float(alive), 2),
        )
        for segment, count, historic, predicted, alive in rows
    ]
    if fitted is None or fitted.horizon_days != horizon_days:
        fitted = predictions.fit(db, as_of=now.date(), horizon_days=horizon_days)
    new_value = None
    if fitted.purchase is not None and fitted.spend is not None:
        horizon = horizon_days / predictions.WEEK_DAYS
        purchases = 1 + float(fitted.purchase.expected_new_customer_purchases(horizon))
        spend = float(fitted.spend.expected_value(np.zeros(1), np.zeros(1))[0])
        new_value = round(purchases * spend)
    return ValueReport(
        currency=currency,
        horizon_days=horizon_days,
        cac=cac,
        segments=segments,
        new_customer_value=new_value,
        problem=fitted.problem,
    )


def _cac(db: Session, period: Period, currency: str) -> Cac:
    new = period.new_customers
    if new is None:
        start = datetime.combine(period.start, time(0), tzinfo=UTC)
        end = datetime.combine(period.end + timedelta(days=1), time(0), tzinfo=UTC)
        first = CUSTOMERS.c.first_order_at
        new = int(
            db.scalar(
                select(func.count()).where(
                    first >= start, first < end, CUSTOMERS.c.orders_count > 0
                )
            )
            or 0
        )
    spend = to_minor(period.spend, currency)
    return Cac(period.source, period.start, period.end, spend, new)
