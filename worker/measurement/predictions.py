"""Each customer's predicted future, kept on their row: `customer.p_alive`, `customer.
predicted_orders` and `customer.clv` in conditions and templates.

Weekly (the clock), the BG/NBD and Gamma-Gamma models are fitted to every customer's orders as of
today (`clv`), and each customer's probability of still being a customer, their expected orders
in the next `CLV_HORIZON_DAYS` and those orders' expected value (the shop's currency, net of
refunds) are written — only where they changed at the precision shown (two decimals, whole minor
units), so a week that moves nobody's prediction writes nothing. Every customer's numbers stay in
numpy arrays from the database's summary to the write (`columns`): a million customers fit and
write in well under a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Subquery, case, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import Session

from models.db import roomy_sorts, sequential_scans
from models.measurement import ClvFit
from models.orders import UNCOUNTED_STATUSES
from models.tables import CLV_FITS, CUSTOMERS, ORDERS
from worker.canonical import MAX_MINOR_UNITS
from worker.measurement import columns
from worker.measurement.clv import (
    BGNBD,
    Customers,
    FitError,
    GammaGamma,
    fit_bgnbd,
    fit_gamma_gamma,
)
from worker.measurement.columns import Floats, Ints

WEEK_DAYS = 7.0  # the models count in weeks, as the papers do


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


@dataclass(frozen=True)
class Predicted:
    """Every customer's prediction as columns, in customer id order: a million customers are
    arrays, not a million objects (`rows` makes the objects for the few shown)."""

    ids: Ints
    p_alive: Floats  # rounded to the two decimals stored
    orders: Floats  # the same
    value: Ints  # minor units of the shop's currency
    seen: Customers | None = None  # what the fit saw (None when read back from a stored fit)

    def rows(self, chosen: Ints | None = None) -> list[Prediction]:
        """The customers at the positions `chosen` (every one by default) as objects."""
        chosen = np.arange(len(self.ids)) if chosen is None else chosen
        n = len(chosen)
        seen = self.seen
        x = [None] * n if seen is None else seen.x[chosen].astype(int).tolist()
        t_x = [None] * n if seen is None else seen.t_x[chosen].tolist()
        T = [None] * n if seen is None else seen.T[chosen].tolist()
        picked = (self.ids[chosen].tolist(), self.p_alive[chosen].tolist(),
                  self.orders[chosen].tolist(), self.value[chosen].tolist())  # fmt: skip
        return [
            Prediction(customer_id=customer, x=x[i], t_x_weeks=t_x[i], T_weeks=T[i],
                       p_alive=alive, predicted_orders=orders, predicted_value=value)
            for i, (customer, alive, orders, value) in enumerate(zip(*picked, strict=True))
        ]  # fmt: skip


@dataclass
class Fitted:
    """The models fitted as of `as_of`, and every customer's prediction from them."""

    as_of: date
    horizon_days: int
    customers: int
    purchase: BGNBD | None = None
    spend: GammaGamma | None = None
    problem: str | None = None  # why nothing was fitted
    predicted: Predicted | None = None
    written: int = 0  # customers whose stored prediction changed (`refresh`)
    stored: bool = False  # read back from the last weekly fit, not fitted just now

    @property
    def predictions(self) -> list[Prediction]:
        """Every customer's prediction as an object (for `--json`); none when not fitted."""
        return [] if self.predicted is None else self.predicted.rows()

    def best(self, n: int) -> list[Prediction]:
        """The `n` customers of the highest predicted value, the lowest id first among equals."""
        if self.predicted is None:
            return []
        return self.predicted.rows(np.argsort(-self.predicted.value, kind="stable")[:n])

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
_EPOCH = date(1970, 1, 1)


def _day_number(db: Session, day: Any) -> Any:
    """Days since 1970-01-01 of a `date(…)`, as each database subtracts dates."""
    if db.get_bind().dialect.name == "postgresql":
        return day - literal_column("DATE '1970-01-01'")
    return func.julianday(day) - literal(2440587.5)  # SQLite: exact for a date (noon-based)


def summaries(db: Session, *, as_of: date) -> tuple[Ints, Customers]:
    """What the models need of each customer who bought by the end of `as_of` (UTC), summed
    in the database: purchase days (orders of one day are one purchase, worth their total net
    of refunds), the first and last of them, and what the days after the first were worth.
    A row per customer crosses to Python, read as columns (`columns.read`), not a row per
    order nor an object per customer."""
    end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=UTC)
    roomy_sorts(db)  # every order sorted by customer and day: in memory, twice as fast
    o = ORDERS.c
    day = _day_number(db, func.date(o.placed_at))
    days = (
        select(o.customer_id, day.label("day"),
               func.sum(o.shop_total - o.shop_refunded).label("value"))
        .where(o.status.not_in([status.value for status in UNCOUNTED_STATUSES]), o.placed_at < end)
        .group_by(o.customer_id, day)
        .subquery("days")
    )  # fmt: skip
    d, repeat = _repeat_value(db, days)
    today = (as_of - _EPOCH).days
    with sequential_scans(db):
        found = columns.read(
            db,
            select(
                columns.integer(d.customer_id, "id"), columns.integer(func.count() - 1, "x"),
                columns.integer(func.max(d.day) - func.min(d.day), "t_x"),
                columns.integer(today - func.min(d.day), "T"),
                columns.real(func.coalesce(repeat, 0), "repeat_value"),
            )
            .group_by(d.customer_id)
            .order_by(d.customer_id),
        )  # fmt: skip
    x = found["x"].astype(float)
    repeat_value = found["repeat_value"]
    mean_value = np.divide(repeat_value, x, out=np.zeros_like(repeat_value), where=x > 0)
    return found["id"], Customers(
        x=x, t_x=found["t_x"] / WEEK_DAYS, T=found["T"] / WEEK_DAYS, mean_value=mean_value
    )


def _repeat_value(db: Session, days: Subquery) -> tuple[Any, Any]:
    """The columns to group by customer, and what their days after the first were worth. On
    PostgreSQL their total less the first day's, the days already sorted for their grouping
    (a window over a million customers' days cost a quarter of the summary); elsewhere by the
    first day a window finds."""
    if db.get_bind().dialect.name == "postgresql":
        d = days.c
        first_day = func.array_agg(aggregate_order_by(d.value, d.day))[1]
        return d, func.sum(d.value) - first_day
    first = func.min(days.c.day).over(partition_by=days.c.customer_id).label("first")
    d = select(days, first).subquery("dated").c
    return d, func.sum(case((d.day > d.first, d.value), else_=0))


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
    fitted.predicted = _predict(ids, customers, fitted.purchase, fitted.spend, horizon_days)
    if fitted.predicted is None:
        fitted.problem = "the models predicted no finite values for these customers"
    return fitted


def _predict(
    ids: Ints, customers: Customers, purchase: BGNBD, spend: GammaGamma, horizon_days: int
) -> Predicted | None:
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
    return Predicted(ids=ids, p_alive=np.round(alive, 2), orders=np.round(orders, 2),
                     value=np.rint(value).astype(np.int64), seen=customers)  # fmt: skip


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
    assert fitted.predicted is not None
    p = fitted.predicted
    fitted.written = columns.write_changed(
        db, CUSTOMERS, ids=p.ids,
        values={"p_alive": p.p_alive, "predicted_orders": p.orders, "clv": p.value},
    )  # fmt: skip
    db.commit()
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
    found = columns.read(
        db,
        select(
            columns.integer(c.id, "id"), columns.real(c.p_alive, "p_alive"),
            columns.real(func.coalesce(c.predicted_orders, 0.0), "orders"),
            columns.integer(func.coalesce(c.clv, 0), "value"),
        )
        .where(c.p_alive.is_not(None))
        .order_by(c.id),
    )  # fmt: skip
    fitted.predicted = Predicted(ids=found["id"], p_alive=found["p_alive"],
                                 orders=found["orders"], value=found["value"])  # fmt: skip
    return fitted
