"""Each customer's predicted future, kept on their row: `customer.p_alive`, `customer.
predicted_orders` and `customer.clv` in conditions and templates.

Weekly (the clock), the BG/NBD and Gamma-Gamma models are fitted to every customer's orders as of
today (`clv`), and each customer's probability of still being a customer, their expected orders
in the next `CLV_HORIZON_DAYS` and those orders' expected value (the shop's currency, net of
refunds) are written — only where they changed at the precision shown (two decimals, whole minor
units), so a week that moves nobody's prediction writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from models.orders import UNCOUNTED_STATUSES
from models.tables import CUSTOMERS, ORDERS
from worker.canonical import MAX_MINOR_UNITS
from worker.measurement.clv import (
    BGNBD,
    Customers,
    FitError,
    GammaGamma,
    Purchase,
    fit_bgnbd,
    fit_gamma_gamma,
    summarise_sorted,
)

WEEK_DAYS = 7.0  # the models count in weeks, as the papers do
BATCH = 5_000


@dataclass(frozen=True)
class Prediction:
    customer_id: int
    x: int
    t_x_weeks: float
    T_weeks: float
    p_alive: float
    predicted_orders: float
    predicted_value: int  # minor units of the shop's currency


@dataclass
class Fitted:
    """The models fitted as of `as_of`, and every customer's prediction from them."""

    as_of: date
    horizon_days: int
    customers: int
    purchase: BGNBD | None = None
    spend: GammaGamma | None = None
    problem: str | None = None  # why nothing was fitted
    predictions: list[Prediction] = field(default_factory=list)
    written: int = 0  # customers whose stored prediction changed (`refresh`)


def purchases(db: Session, *, as_of: date) -> Iterator[Purchase]:
    """Counting orders placed by the end of `as_of` (UTC), by customer and time, each worth
    its shop-currency total net of refunds."""
    end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)
    o = ORDERS.c
    query = (
        select(o.customer_id, o.placed_at, (o.shop_total - o.shop_refunded).label("net"))
        .where(
            o.status.not_in([status.value for status in UNCOUNTED_STATUSES]),
            o.placed_at < end,
        )
        .order_by(o.customer_id, o.placed_at)
    )
    rows = db.execute(query.execution_options(yield_per=BATCH))
    for customer_id, placed_at, net in rows:
        yield Purchase(customer=customer_id, day=placed_at.astimezone(UTC).date(), value=net)


def fit(db: Session, *, as_of: date, horizon_days: int) -> Fitted:
    """The models fitted to the orders known by the end of `as_of`, and each customer's
    prediction for the `horizon_days` after it. Fitted.problem says why there is none."""
    ids, customers = summarise_sorted(purchases(db, as_of=as_of), as_of=as_of, unit_days=WEEK_DAYS)
    fitted = Fitted(as_of=as_of, horizon_days=horizon_days, customers=len(ids))
    try:
        fitted.purchase = fit_bgnbd(customers)
        fitted.spend = fit_gamma_gamma(customers)
    except FitError as exc:
        fitted.problem = str(exc)
        return fitted
    predicted = _predict(ids, customers, fitted.purchase, fitted.spend, horizon_days)
    if predicted is None:
        fitted.problem = "the models predicted no finite values for these customers"
    else:
        fitted.predictions = predicted
    return fitted


def _predict(
    ids: list[int], customers: Customers, purchase: BGNBD, spend: GammaGamma, horizon_days: int
) -> list[Prediction] | None:
    """Each customer's prediction; None when any is not a finite number."""
    x, t_x, T = customers.x, customers.t_x, customers.T
    alive = purchase.p_alive(x, t_x, T)
    orders = purchase.expected_purchases(horizon_days / WEEK_DAYS, x, t_x, T)
    value = orders * spend.expected_value(x, customers.mean_value)
    if not (
        np.all(np.isfinite(alive)) and np.all(np.isfinite(orders)) and np.all(np.isfinite(value))
    ):
        return None
    value = np.clip(value, 0, MAX_MINOR_UNITS)  # what the INTEGER column holds
    return [
        Prediction(
            customer_id=customer,
            x=int(x[i]),
            t_x_weeks=float(t_x[i]),
            T_weeks=float(T[i]),
            p_alive=round(float(alive[i]), 2),
            predicted_orders=round(float(orders[i]), 2),
            predicted_value=int(np.rint(value[i])),
        )
        for i, customer in enumerate(ids)
    ]


def refresh(db: Session, *, now: datetime, horizon_days: int) -> Fitted:
    """Fits as of `now`'s day and writes each customer's prediction where it changed; commits.
    Customers without an order keep none (NULL)."""
    fitted = fit(db, as_of=now.date(), horizon_days=horizon_days)
    if fitted.problem is not None:
        return fitted
    c = CUSTOMERS.c
    stored = {
        row.id: (row.p_alive, row.predicted_orders, row.clv)
        for row in db.execute(
            select(c.id, c.p_alive, c.predicted_orders, c.clv).where(c.p_alive.is_not(None))
        )
    }
    changed: list[dict[str, Any]] = [
        {"cid": p.customer_id, "p_alive": p.p_alive, "orders": p.predicted_orders,
         "clv": p.predicted_value}
        for p in fitted.predictions
        if stored.get(p.customer_id) != (p.p_alive, p.predicted_orders, p.predicted_value)
    ]  # fmt: skip
    statement = (
        update(CUSTOMERS)
        .where(c.id == bindparam("cid"))
        .values(p_alive=bindparam("p_alive"), predicted_orders=bindparam("orders"),
                clv=bindparam("clv"))
    )  # fmt: skip
    for start in range(0, len(changed), BATCH):
        db.execute(statement, changed[start : start + BATCH])
    db.commit()
    fitted.written = len(changed)
    return fitted
