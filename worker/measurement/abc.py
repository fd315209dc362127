"""ABC classes: each buying customer's weighted score over what makes a customer valuable, and
the class their rank gives (`customer.abc`, `A`, `B` or `C`).

The dimensions, each ranked among the customers who bought (0 the lowest, 1 the highest):

- volume: revenue of the last 12 months, net of refunds, in the shop's currency;
- potential: the predicted value of the next CLV_HORIZON_DAYS (`customer.clv`);
- payment_speed: how soon their orders were paid after being placed (faster ranks higher);
- profitability: margin, where line costs are known;
- loyalty: tenure since the first order and the number of orders, averaged;
- satisfaction: their last NPS answer (`survey.answered`).

A dimension no customer has a value for (no line costs, no survey answers yet) is left out and
said so; a customer without a value in a dimension others have ranks in its middle (0.5). The
score is the weighted mean of the ranks (weights from `measurement/abc.toml`); customers sorted
by score fill the classes by the file's shares of customers (by default the top 20 % are A, the
next 30 % B, the rest C).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from scipy import stats
from sqlalchemy import case, func, select
from sqlmodel import Session

from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, EVENTS, ORDERS
from triggers import line_of
from worker.measurement import columns
from worker.measurement.columns import Floats, Ints

DIMENSIONS = ("volume", "potential", "payment_speed", "profitability", "loyalty", "satisfaction")
CLASSES = ("A", "B", "C")
NEUTRAL = 0.5


class SchemeError(ValueError):
    """The ABC file cannot be used; the message names the file and what to fix."""


class Scheme(BaseModel):
    """What `measurement/abc.toml` says: a weight per dimension, the classes' shares."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(DIMENSIONS, 1.0))
    # The share of buying customers in class A and in class B (C has the rest), best first.
    a_share: float = Field(default=0.2, gt=0, lt=1)
    b_share: float = Field(default=0.3, gt=0, lt=1)

    @field_validator("weights")
    @classmethod
    def _known(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(DIMENSIONS))
        if unknown:
            raise ValueError(f"unknown dimension {unknown[0]!r}: use {', '.join(DIMENSIONS)}")
        if any(weight < 0 for weight in weights.values()):
            raise ValueError("weights are 0 or more")
        if not any(weights.values()):
            raise ValueError("at least one weight must be more than 0")
        return weights

    @model_validator(mode="after")
    def _room_for_c(self) -> Scheme:
        if self.a_share + self.b_share >= 1:
            raise ValueError("a_share + b_share must leave some customers for class C")
        return self


def load_scheme(path: Path) -> Scheme:
    """The scheme in `path`, or the default one when there is no such file."""
    if not path.exists():
        return Scheme()
    text = path.read_text(encoding="utf-8")
    try:
        return Scheme.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise SchemeError(f"{path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        line = _line(text, name)
        where = f"{path}:{line}" if line else str(path)
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SchemeError(f"{where}: {name or '(file)'}: {message}") from exc


def _line(text: str, name: str) -> int | None:
    """The line that sets `name`, or opens its table (`[weights]`)."""
    if not name:
        return None
    table = re.search(rf"^\s*\[{re.escape(name)}\]", text, re.MULTILINE)
    if table is not None:
        return text.count("\n", 0, table.start()) + 1
    return line_of(text, name)


@dataclass
class Classified:
    """What one classification did: customers per class, the dimensions used and left out."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    used: dict[str, float] = field(default_factory=dict)  # dimension → weight
    left_out: dict[str, str] = field(default_factory=dict)  # dimension → why
    written: int = 0


def classify(db: Session, *, now: datetime, scheme: Scheme) -> Classified:
    """Scores every customer with a counting order and writes `abc` and `abc_score` where
    they changed; commits. Customers without an order keep none. Every customer's values are
    numpy columns (`columns`), never an object or a dict entry each."""
    ids, facts = _facts(db, now)
    result = Classified()
    if not len(ids):
        return result
    ranks: dict[str, Floats] = {}
    for dimension in DIMENSIONS:
        weight = scheme.weights.get(dimension, 0.0)
        if weight <= 0:
            continue
        values = facts[dimension]
        if np.all(np.isnan(values)):
            result.left_out[dimension] = _WHY_MISSING[dimension]
            continue
        ranks[dimension] = _ranks(values, higher_is_better=dimension != "payment_speed")
        result.used[dimension] = weight
    if not ranks:
        return result
    total = sum(result.used.values())
    score = sum(ranks[name] * weight for name, weight in result.used.items()) / total
    position = np.empty(len(ids), dtype=np.int64)
    position[np.argsort(-score, kind="stable")] = np.arange(len(ids))
    a_end = round(len(ids) * scheme.a_share)
    b_end = round(len(ids) * (scheme.a_share + scheme.b_share))
    klass = np.where(position < a_end, 0, np.where(position < b_end, 1, 2)).astype(np.int64)
    for index, count in enumerate(np.bincount(klass, minlength=len(CLASSES)).tolist()):
        result.counts[CLASSES[index]] = count
    result.written = columns.write_changed(
        db, CUSTOMERS, ids=ids, values={"abc": klass, "abc_score": np.round(score, 3)},
        shown={"abc": lambda loaded: case(dict(enumerate(CLASSES)), value=loaded)},
    )  # fmt: skip
    db.commit()
    return result


_WHY_MISSING = {
    "volume": "no order in the last 12 months",
    "potential": "no CLV predictions yet (the weekly fit needs 30 customers, 10 buying again)",
    "payment_speed": "no order.paid events",
    "profitability": "no line costs known (orders carry no cost)",
    "loyalty": "no orders",
    "satisfaction": "no NPS answers (survey.answered events) yet",
}


def _ranks(values: Floats, *, higher_is_better: bool) -> Floats:
    """Each value's percentile rank among the known ones (ties share it); unknown (NaN):
    NEUTRAL."""
    known = ~np.isnan(values)
    ranked = np.full(len(values), NEUTRAL)
    numbers = values[known]
    if len(numbers) <= 1:
        return ranked
    order = stats.rankdata(numbers if higher_is_better else -numbers)  # 1 … n, ties averaged
    ranked[known] = (order - 1) / (len(numbers) - 1)
    return ranked


def _known(flag: Ints, values: Floats) -> Floats:
    return np.where(flag == 1, values, np.nan)


def _facts(db: Session, now: datetime) -> tuple[Ints, dict[str, Floats]]:
    """The customers with a counting order (by id), and each dimension's raw value for each
    of them (NaN: unknown), summed in the database."""
    o, c = ORDERS.c, CUSTOMERS.c
    counting = o.status.not_in([status.value for status in UNCOUNTED_STATUSES])
    buyers = columns.read(
        db,
        select(
            columns.integer(c.id, "id"), columns.integer(c.orders_count, "orders"),
            columns.integer(case((c.clv.is_(None), 0), else_=1), "has_clv"),
            columns.real(func.coalesce(c.clv, 0), "clv"),
            columns.integer(case((c.first_order_at.is_(None), 0), else_=1), "has_first"),
            columns.integer(func.coalesce(columns.microseconds(db, c.first_order_at), 0), "first"),
        )
        .where(c.orders_count > 0)
        .order_by(c.id),
    )  # fmt: skip
    ids = buyers["id"]
    since = now - timedelta(days=365)
    revenue = columns.read(
        db,
        select(columns.integer(o.customer_id, "id"),
               columns.real(func.coalesce(func.sum(o.shop_total - o.shop_refunded), 0), "net"))
        .where(counting, o.placed_at > since)
        .group_by(o.customer_id),
    )  # fmt: skip
    # Each order's first order.paid, then per customer the mean delay (none before placing).
    paid = (
        select(o.customer_id, o.placed_at, func.min(EVENTS.c.occurred_at).label("paid_at"))
        .join(EVENTS, EVENTS.c.order_id == o.id)
        .where(EVENTS.c.type == "order.paid", counting, o.placed_at > since)
        .group_by(o.id, o.customer_id, o.placed_at)
        .subquery("paid")
    )
    p = paid.c
    delay = columns.microseconds(db, p.paid_at) - columns.microseconds(db, p.placed_at)
    speed = columns.read(
        db,
        select(columns.integer(p.customer_id, "id"),
               columns.real(func.avg(case((delay > 0, delay), else_=0)) / 1e6, "seconds"))
        .group_by(p.customer_id),
    )  # fmt: skip
    tenure = np.floor_divide(columns.microseconds_of(now) - buyers["first"], 86_400 * 10**6)
    tenure_rank = _ranks(_known(buyers["has_first"], tenure.astype(float)), higher_is_better=True)
    orders_rank = _ranks(buyers["orders"].astype(float), higher_is_better=True)
    nothing = np.full(len(ids), np.nan)
    return ids, {
        "volume": columns.aligned(ids, revenue["id"], revenue["net"], missing=0.0),
        "potential": _known(buyers["has_clv"], buyers["clv"]),
        "payment_speed": columns.aligned(ids, speed["id"], speed["seconds"]),
        "profitability": nothing,
        "loyalty": (tenure_rank + orders_rank) / 2,  # tenure's rank and the order count's
        "satisfaction": _satisfaction(db, ids),
    }


def _satisfaction(db: Session, ids: Ints) -> Floats:
    """Each customer's last NPS answer (NaN: none). A few answers per customer at most: their
    payloads are read in Python."""
    answers = (
        select(EVENTS.c.customer_id, EVENTS.c.payload)
        .where(EVENTS.c.type == "survey.answered", EVENTS.c.customer_id.is_not(None))
        .order_by(EVENTS.c.occurred_at)
    )
    last: dict[int, float] = {}
    for customer_id, payload in db.execute(answers):  # the last NPS answer wins
        data = (payload or {}).get("data") or {}
        if data.get("kind") == "nps" and isinstance(data.get("score"), int):
            last[customer_id] = float(data["score"])
    keys = np.fromiter(last.keys(), dtype=np.int64, count=len(last))
    scores = np.fromiter(last.values(), dtype=np.float64, count=len(last))
    return columns.aligned(ids, keys, scores)


@dataclass(frozen=True)
class ClassSummary:
    klass: str
    customers: int
    spent: int  # mean total spent so far, minor units of the shop's currency
    predicted: int | None  # mean `clv`


def summary(db: Session) -> list[ClassSummary]:
    """Each class as it stands: how many customers, what they spent and are predicted to."""
    c = CUSTOMERS.c
    rows = db.execute(
        select(c.abc, func.count(), func.avg(c.total_spent), func.avg(c.clv))
        .where(c.abc.is_not(None))
        .group_by(c.abc)
        .order_by(c.abc)
    ).all()
    return [
        ClassSummary(
            klass=str(klass),
            customers=int(count),
            spent=round(float(spent or 0)),
            predicted=None if predicted is None else round(float(predicted)),
        )
        for klass, count, spent, predicted in rows
    ]
