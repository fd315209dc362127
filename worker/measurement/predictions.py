"""Each customer's predicted future, kept on their row: `customer.p_alive`, `customer.
predicted_orders` and `customer.clv` in conditions and templates.

Weekly (the clock), the BG/NBD and Gamma-Gamma models are fitted to every customer's orders as of
today (`clv`), and each customer's probability of still being a customer, their expected orders
in the next `CLV_HORIZON_DAYS` and those orders' expected value (the shop's currency, net of
refunds) are written — only where they changed at the precision shown (two decimals, whole minor
units), so a week that moves nobody's prediction writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlmodel import Session

from models.db import roomy_sorts, update_by_key
from models.measurement import ClvFit
from models.orders import UNCOUNTED_STATUSES
from models.tables import CLV_FITS, CUSTOMERS, ORDERS
from worker.canonical import MAX_MINOR_UNITS
from worker.measurement.clv import (
    BGNBD,
    Customers,
    FitError,
    GammaGamma,
    fit_bgnbd,
    fit_gamma_gamma,
)

WEEK_DAYS = 7.0  # the models count in weeks, as the papers do
BATCH = 5_000


@dataclass(frozen=True)
class Prediction:
    customer_id: int
    # What the fit saw of the customer (None when read back from a stored fit).
    x: int | None
    t_x_weeks: float | None
    T_weeks: float | None
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
    stored: bool = False  # read back from the last weekly fit, not fitted just now

    def parameters(self) -> dict[str, Any]:
        """The fitted parameters as `clv_fits.parameters` and `ladder report clv --json` keep
        them; empty when nothing was fitted."""
        out: dict[str, Any] = {}
        if self.purchase is not None:
            out["bgnbd"] = {k: getattr(self.purchase, k) for k in BGNBD_FIELDS}
        if self.spend is not None:
            out["gamma_gamma"] = {k: getattr(self.spend, k) for k in GAMMA_GAMMA_FIELDS}
        return out


BGNBD_FIELDS = ("r", "alpha", "a", "b", "log_likelihood")
GAMMA_GAMMA_FIELDS = ("p", "q", "gamma", "log_likelihood")


def summaries(db: Session, *, as_of: date) -> tuple[list[int], Customers]:
    """What the models need of each customer who bought by the end of `as_of` (UTC), summed
    in the database: purchase days (orders of one day are one purchase, worth their total net
    of refunds), the first and last of them, and what the days after the first were worth.
    A row per customer crosses to Python, not a row per order."""
    end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)
    roomy_sorts(db)  # every order sorted by customer and day: in memory, twice as fast
    o = ORDERS.c
    day = func.date(o.placed_at).label("day")
    days = (
        select(o.customer_id, day, func.sum(o.shop_total - o.shop_refunded).label("value"))
        .where(o.status.not_in([status.value for status in UNCOUNTED_STATUSES]), o.placed_at < end)
        .group_by(o.customer_id, day)
        .subquery("days")
    )
    first = func.min(days.c.day).over(partition_by=days.c.customer_id).label("first")
    dated = select(days, first).subquery("dated")
    d = dated.c
    rows = db.execute(
        select(
            d.customer_id, func.count().label("days"), func.min(d.day).label("first"),
            func.max(d.day).label("last"),
            func.sum(case((d.day > d.first, d.value), else_=0)).label("repeat_value"),
        )
        .group_by(d.customer_id)
        .order_by(d.customer_id)
    ).all()  # fmt: skip
    ids = [int(row.customer_id) for row in rows]
    x = np.array([row.days - 1 for row in rows], dtype=float)
    firsts = [_day(row.first) for row in rows]
    lasts = [_day(row.last) for row in rows]
    t_x = np.array([(b - a).days for a, b in zip(firsts, lasts, strict=True)], dtype=float)
    T = np.array([(as_of - a).days for a in firsts], dtype=float)
    repeat = np.array([float(row.repeat_value or 0) for row in rows], dtype=float)
    mean_value = np.divide(repeat, x, out=np.zeros_like(repeat), where=x > 0)
    return ids, Customers(x=x, t_x=t_x / WEEK_DAYS, T=T / WEEK_DAYS, mean_value=mean_value)


def _day(value: date | str) -> date:
    """`date(placed_at)` as each database returns it: a date, or SQLite's text."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def fit(db: Session, *, as_of: date, horizon_days: int) -> Fitted:
    """The models fitted to the orders known by the end of `as_of`, and each customer's
    prediction for the `horizon_days` after it. Fitted.problem says why there is none."""
    ids, customers = summaries(db, as_of=as_of)
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
    db.add(
        ClvFit(
            as_of=fitted.as_of, horizon_days=horizon_days, customers=fitted.customers,
            parameters=fitted.parameters(), problem=fitted.problem, fitted_at=now,
        )
    )  # fmt: skip
    if fitted.problem is not None:
        db.commit()
        return fitted
    c = CUSTOMERS.c
    stored = {
        row.id: (row.p_alive, row.predicted_orders, row.clv)
        for row in db.execute(
            select(c.id, c.p_alive, c.predicted_orders, c.clv).where(c.p_alive.is_not(None))
        )
    }
    changed: list[dict[str, Any]] = [
        {"id": p.customer_id, "p_alive": p.p_alive, "predicted_orders": p.predicted_orders,
         "clv": p.predicted_value}
        for p in fitted.predictions
        if stored.get(p.customer_id) != (p.p_alive, p.predicted_orders, p.predicted_value)
    ]  # fmt: skip
    update_by_key(db, CUSTOMERS, changed)
    db.commit()
    fitted.written = len(changed)
    return fitted


def stored(db: Session, *, with_predictions: bool = True) -> Fitted | None:
    """The last weekly fit as the clock stored it, with each customer's prediction from their
    row (unless only the parameters are wanted); None before the first. Reading it costs a
    query, where fitting reads every order."""
    row = db.execute(select(CLV_FITS).order_by(CLV_FITS.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    fitted = Fitted(as_of=row.as_of, horizon_days=row.horizon_days, customers=row.customers,
                    problem=row.problem, stored=True)  # fmt: skip
    parameters = row.parameters or {}
    if "bgnbd" in parameters and "gamma_gamma" in parameters:
        fitted.purchase = BGNBD(**{k: float(parameters["bgnbd"][k]) for k in BGNBD_FIELDS})
        fitted.spend = GammaGamma(
            **{k: float(parameters["gamma_gamma"][k]) for k in GAMMA_GAMMA_FIELDS}
        )
    if not with_predictions:
        return fitted
    c = CUSTOMERS.c
    rows = db.execute(
        select(c.id, c.p_alive, c.predicted_orders, c.clv)
        .where(c.p_alive.is_not(None))
        .order_by(c.id)
    )
    fitted.predictions = [
        Prediction(customer_id=r.id, x=None, t_x_weeks=None, T_weeks=None, p_alive=r.p_alive,
                   predicted_orders=r.predicted_orders or 0.0, predicted_value=r.clv or 0)
        for r in rows
    ]  # fmt: skip
    return fitted
