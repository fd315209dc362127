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
from typing import Any

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
from sqlalchemy import func, select
from sqlmodel import Session

from models.db import update_by_key
from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, EVENTS, ORDERS
from triggers import line_of

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
    they changed; commits. Customers without an order keep none."""
    facts = _facts(db, now)
    result = Classified()
    if not facts:
        return result
    ids = sorted(facts)
    ranks: dict[str, Any] = {}
    for dimension in DIMENSIONS:
        weight = scheme.weights.get(dimension, 0.0)
        if weight <= 0:
            continue
        values = [facts[customer].get(dimension) for customer in ids]
        if all(value is None for value in values):
            result.left_out[dimension] = _WHY_MISSING[dimension]
            continue
        ranks[dimension] = _ranks(values, higher_is_better=dimension != "payment_speed")
        result.used[dimension] = weight
    if not ranks:
        return result
    total = sum(result.used.values())
    score = sum(ranks[name] * weight for name, weight in result.used.items()) / total
    order = np.argsort(-score, kind="stable")
    classes = np.empty(len(ids), dtype=object)
    a_end = round(len(ids) * scheme.a_share)
    b_end = round(len(ids) * (scheme.a_share + scheme.b_share))
    for position, index in enumerate(order):
        classes[index] = "A" if position < a_end else ("B" if position < b_end else "C")
    stored = {
        row.id: (row.abc, row.abc_score)
        # Every classed customer in one read (not an IN list of a million ids).
        for row in db.execute(
            select(CUSTOMERS.c.id, CUSTOMERS.c.abc, CUSTOMERS.c.abc_score).where(
                CUSTOMERS.c.abc.is_not(None)
            )
        )
    }
    changed = []
    for index, customer in enumerate(ids):
        new = (str(classes[index]), round(float(score[index]), 3))
        result.counts[new[0]] += 1
        if stored.get(customer) != new:
            changed.append({"id": customer, "abc": new[0], "abc_score": new[1]})
    update_by_key(db, CUSTOMERS, changed)
    db.commit()
    result.written = len(changed)
    return result


_WHY_MISSING = {
    "volume": "no order in the last 12 months",
    "potential": "no CLV predictions yet (the weekly fit needs 30 customers, 10 buying again)",
    "payment_speed": "no order.paid events",
    "profitability": "no line costs known (orders carry no cost)",
    "loyalty": "no orders",
    "satisfaction": "no NPS answers (survey.answered events) yet",
}


def _ranks(values: list[Any], *, higher_is_better: bool) -> Any:
    """Each value's percentile rank among the known ones (ties share it); unknown: NEUTRAL."""
    known = np.array([value is not None for value in values], dtype=bool)
    ranked = np.full(len(values), NEUTRAL)
    numbers = np.array([float(value) for value in values if value is not None])
    if len(numbers) == 1:
        ranked[known] = NEUTRAL
        return ranked
    order = stats.rankdata(numbers if higher_is_better else -numbers)  # 1 … n, ties averaged
    ranked[known] = (order - 1) / (len(numbers) - 1)
    return ranked


def _facts(db: Session, now: datetime) -> dict[int, dict[str, float | None]]:
    """Per customer with a counting order: each dimension's raw value (None: unknown)."""
    o, c = ORDERS.c, CUSTOMERS.c
    counting = o.status.not_in([status.value for status in UNCOUNTED_STATUSES])
    facts: dict[int, dict[str, float | None]] = {}
    for row in db.execute(
        select(c.id, c.first_order_at, c.orders_count, c.clv).where(c.orders_count > 0)
    ):
        tenure = (now - row.first_order_at).days if row.first_order_at else None
        facts[row.id] = {
            "volume": 0.0,
            "potential": None if row.clv is None else float(row.clv),
            "payment_speed": None,
            "profitability": None,
            "loyalty": None if tenure is None else float(tenure),
            "orders": float(row.orders_count),
            "satisfaction": None,
        }
    since = now - timedelta(days=365)
    revenue = (
        select(o.customer_id, func.sum(o.shop_total - o.shop_refunded))
        .where(counting, o.placed_at > since)
        .group_by(o.customer_id)
    )
    for customer_id, net in db.execute(revenue):
        if customer_id in facts:
            facts[customer_id]["volume"] = float(net or 0)
    paid = (
        select(o.customer_id, o.placed_at, func.min(EVENTS.c.occurred_at))
        .join(EVENTS, EVENTS.c.order_id == o.id)
        .where(EVENTS.c.type == "order.paid", counting, o.placed_at > since)
        .group_by(o.id, o.customer_id, o.placed_at)
    )
    delays: dict[int, list[float]] = {}
    for customer_id, placed_at, paid_at in db.execute(paid):
        delay = max((paid_at - placed_at).total_seconds(), 0.0)
        delays.setdefault(customer_id, []).append(delay)
    for customer_id, seconds in delays.items():
        if customer_id in facts:
            facts[customer_id]["payment_speed"] = float(np.mean(seconds))
    answers = (
        select(EVENTS.c.customer_id, EVENTS.c.payload)
        .where(EVENTS.c.type == "survey.answered", EVENTS.c.customer_id.is_not(None))
        .order_by(EVENTS.c.occurred_at)
    )
    for customer_id, payload in db.execute(answers):  # the last NPS answer wins
        data = (payload or {}).get("data") or {}
        if (
            customer_id in facts
            and data.get("kind") == "nps"
            and isinstance(data.get("score"), int)
        ):
            facts[customer_id]["satisfaction"] = float(data["score"])
    _loyalty(facts)
    return facts


def _loyalty(facts: dict[int, dict[str, float | None]]) -> None:
    """Loyalty: the mean of the tenure's rank and the order count's rank."""
    ids = list(facts)
    tenure = _ranks([facts[i]["loyalty"] for i in ids], higher_is_better=True)
    orders = _ranks([facts[i].pop("orders") for i in ids], higher_is_better=True)
    for index, customer in enumerate(ids):
        facts[customer]["loyalty"] = float((tenure[index] + orders[index]) / 2)


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
