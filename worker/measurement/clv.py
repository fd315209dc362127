"""What a customer is worth: the BG/NBD and Gamma-Gamma models, fitted by maximum likelihood.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") says how often a
customer buys while alive and how likely they are to have dropped out after each purchase, from
three numbers per customer: x, their repeat purchases; t_x, the time of their last purchase; T,
the time since their first (all measured from the first purchase). Gamma-Gamma (Fader, Hardie &
Lee 2005, "RFM and CLV") says what they spend per purchase, from the mean value of their repeat
purchases. Together: expected purchases over a horizon, the probability of being alive, and the
value those purchases are worth.

Our own implementation on scipy, not a library's: pymc-marketing fits the same models (by MAP or
MCMC) but brings PyMC, PyTensor (a C compiler at run time), ArviZ and pandas — hundreds of
megabytes for four parameters that a likelihood and `scipy.optimize` find in well under a
second; the comparison is in bench/README.md. The formulas are the papers' own, each beside its
equation; tests/unit/test_clv.py reproduces the published CDNOW fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

Floats = npt.NDArray[np.float64]


class FitError(ValueError):
    """The model cannot be fitted to these customers (too few, or no repeat purchases)."""


@dataclass(frozen=True)
class Customers:
    """Each customer's repeat purchases `x`, last purchase `t_x` and age `T` (one time unit,
    from their first purchase), and the mean value of their repeat purchases (0 without)."""

    x: Floats
    t_x: Floats
    T: Floats
    mean_value: Floats

    def __post_init__(self) -> None:
        n = len(self.x)
        if not (len(self.t_x) == len(self.T) == len(self.mean_value) == n):
            raise ValueError("x, t_x, T and mean_value must have one entry per customer")
        if n and (np.any(self.x < 0) or np.any(self.t_x > self.T) or np.any(self.t_x < 0)):
            raise ValueError("need x >= 0 and 0 <= t_x <= T for every customer")
        if n and np.any((self.x > 0) & (self.t_x <= 0)):
            raise ValueError("a repeat purchase is after the first day: x > 0 needs t_x > 0")

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class BGNBD:
    """Purchase rate ~ Gamma(r, alpha); dropout probability after a purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    def p_alive(self, x: Floats, t_x: Floats, T: Floats) -> Floats:
        """P(alive | x, t_x, T) (equation 11, Fader, Hardie & Lee 2005)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        repeat = x > 0
        odds = np.zeros_like(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (
                np.log(a)
                - np.log(np.where(repeat, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        with np.errstate(over="ignore"):  # odds of infinity: certainly gone, p_alive 0
            odds[repeat] = np.exp(ratio[repeat])
        return np.asarray(1.0 / (1.0 + odds), dtype=float)

    def expected_purchases(self, t: float, x: Floats, t_x: Floats, T: Floats) -> Floats:
        """E[Y(t) | x, t_x, T]: purchases in the next `t` units (equation 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        if t <= 0:
            return np.zeros_like(x, dtype=float)
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
        return np.asarray(head * tail * self.p_alive(x, t_x, T), dtype=float)

    def expected_new_customer_purchases(self, t: Floats | float) -> Floats:
        """E[X(t)]: purchases of a customer in their first `t` units after the first (eq. 7)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        hyp = special.hyp2f1(r, b, a + b - 1, z)
        return np.asarray(
            (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp), dtype=float
        )


@dataclass(frozen=True)
class GammaGamma:
    """Spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma) across customers."""

    p: float
    q: float
    gamma: float
    log_likelihood: float

    def expected_value(self, x: Floats, mean_value: Floats) -> Floats:
        """E[M | p, q, gamma, mean value, x]: a customer's expected spend per purchase
        (equation 5, Fader, Hardie & Lee 2005, "RFM and CLV"); the population mean without a
        repeat purchase."""
        p, q, gamma = self.p, self.q, self.gamma
        population = p * gamma / (q - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = (q - 1) / (p * x + q - 1)
        spend = (1 - weight) * mean_value + weight * population
        return np.asarray(np.where(x > 0, spend, population), dtype=float)


# On the logs of the parameters, kept within e^±30; L-BFGS-B (numerical gradient) took 100
# likelihood evaluations on CDNOW where Nelder-Mead took 705, for the same optimum. Nelder-Mead
# is the fallback should it stop short.
_BOUND = 30.0
_FAR = 1e300
# Below these, a fit says more about a few customers than about the shop.
MIN_CUSTOMERS = 30
MIN_REPEAT_CUSTOMERS = 10
_L_BFGS_B: Any = {"ftol": 1e-13, "gtol": 1e-9}
_NELDER_MEAD: Any = {"xatol": 1e-7, "fatol": 1e-7, "maxiter": 4000, "maxfev": 8000}


def _maximise(log_likelihood: Callable[..., float], start: Floats, data: tuple[Any, ...]) -> Any:
    """The parameters (on their logs) that maximise `log_likelihood(params, *data)`."""
    negative = _negative(log_likelihood)
    bounds = [(-_BOUND, _BOUND)] * len(start)
    found = optimize.minimize(
        negative, start, args=data, method="L-BFGS-B", bounds=bounds, options=_L_BFGS_B
    )
    # L-BFGS-B often stops "abnormally" in its line search at the optimum itself, with the
    # tolerances above; only a fit that found no finite likelihood goes to Nelder-Mead.
    if not np.isfinite(found.fun) or found.fun >= _FAR:
        found = optimize.minimize(
            negative, start, args=data, method="Nelder-Mead", bounds=bounds, options=_NELDER_MEAD
        )
    return found


def _converged(found: Any, model: str) -> None:
    """FitError for a fit with no finite likelihood. A parameter may legitimately run far out
    (a and b both large: every customer drops out with the same probability); what that
    predicts is checked for finite values where it is used."""
    if not np.isfinite(found.fun) or found.fun >= _FAR or not np.all(np.isfinite(found.x)):
        raise FitError(
            f"the {model} model found no fit for these customers; it is fitted again as more "
            "orders come in"
        )


def _negative(log_likelihood: Callable[..., float]) -> Callable[..., float]:
    """What `optimize.minimize` minimises: the negative log-likelihood."""

    def negative(params: Floats, *data: Any) -> float:
        value = -log_likelihood(params, *data)
        return value if np.isfinite(value) else _FAR  # off the likelihood's domain: never best

    return negative


@dataclass(frozen=True)
class _Distinct:
    """One column of the customers as its distinct values and, per customer, the index of
    theirs: what depends on a parameter and only that value (a special function of the repeat
    purchases, the log of alpha plus an age in days) is evaluated once per distinct value,
    a few hundred, not once per customer (a million)."""

    values: Floats
    index: npt.NDArray[np.intp]
    counts: Floats  # customers per value


def _distinct(column: Floats) -> _Distinct:
    values, index, counts = np.unique(column, return_inverse=True, return_counts=True)
    return _Distinct(values=values, index=index, counts=counts.astype(float))


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # the optimiser probes far out
def _bgnbd_log_likelihood(params: Floats, x: _Distinct, t_x: _Distinct, T: _Distinct) -> float:
    """Equation 6 (Fader, Hardie & Lee 2005): ln A1 + ln A2 + ln(exp(ln A3) + δ exp(ln A4)),
    summed over the customers."""
    r, alpha, a, b = np.exp(params)  # fitted on logs: every parameter stays positive
    xs = x.values
    a1 = special.gammaln(r + xs) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + xs) - special.betaln(a, b)
    repeat = xs > 0
    a4_x = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + xs - 1, 1.0)), -np.inf)
    r_x = (r + xs)[x.index]  # per customer from here
    a3 = -r_x * np.log(alpha + T.values)[T.index]
    a4 = a4_x[x.index] - r_x * np.log(alpha + t_x.values)[t_x.index]
    return float(np.sum(x.counts * (a1 + a2)) + np.sum(np.logaddexp(a3, a4)))


def fit_bgnbd(customers: Customers) -> BGNBD:
    """The BG/NBD parameters that maximise the likelihood of these customers' histories.
    Always from the same start: the same orders give the same predictions, whatever ran before
    (a warm start from last week's fit moved a small shop's flat optimum, rewriting rows)."""
    x, t_x, T = customers.x, customers.t_x, customers.T
    repeat = int(np.sum(x > 0))
    if len(customers) < MIN_CUSTOMERS or repeat < MIN_REPEAT_CUSTOMERS:
        raise FitError(
            f"{len(customers)} customers, {repeat} with a repeat purchase: too few to fit the "
            f"purchase model (it needs {MIN_CUSTOMERS} and {MIN_REPEAT_CUSTOMERS})"
        )
    # Scale-free start: a rate of about one purchase per mean age, dropout of one in three.
    start: Floats = np.log(np.array([1.0, max(float(np.mean(T)), 1e-3), 1.0, 2.0]))
    data = (_distinct(x), _distinct(t_x), _distinct(T))
    found = _maximise(_bgnbd_log_likelihood, start, data)
    _converged(found, "purchase")
    r, alpha, a, b = (float(value) for value in np.exp(found.x))
    return BGNBD(r=r, alpha=alpha, a=a, b=b, log_likelihood=-float(found.fun))


@dataclass(frozen=True)
class _Spend:
    """The repeat buyers' purchases `x` (and their distinct values), the value of their
    repeat purchases `m·x`, and the sums of the likelihood's terms without a parameter."""

    x: Floats
    distinct: _Distinct
    total: Floats  # m·x
    log_m: float  # Σ ln m
    x_log_m_x: float  # Σ x ln m + Σ x ln x, both multiplied by p

    @classmethod
    def of(cls, x: Floats, m: Floats) -> _Spend:
        return cls(x=x, distinct=_distinct(x), total=m * x, log_m=float(np.sum(np.log(m))),
                   x_log_m_x=float(np.sum(x * np.log(m)) + np.sum(x * np.log(x))))  # fmt: skip


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _gamma_gamma_log_likelihood(params: Floats, data: _Spend) -> float:
    """The sum over the repeat buyers of ln G(px + q) - ln G(px) - ln G(q) + q ln gamma
    + (px - 1) ln m + px ln x - (px + q) ln(gamma + mx), G the gamma function (Fader, Hardie &
    Lee 2005, "RFM and CLV", equation 3's log)."""
    p, q, gamma = np.exp(params)
    n, d = len(data.x), data.distinct
    per_x = special.gammaln(p * d.values + q) - special.gammaln(p * d.values)
    spent = np.log(gamma + data.total)  # per customer: gamma + mx
    return float(
        np.sum(d.counts * per_x)
        + n * (q * np.log(gamma) - special.gammaln(q))
        + p * data.x_log_m_x
        - data.log_m
        - (p * np.dot(data.x, spent) + q * np.sum(spent))
    )


def fit_gamma_gamma(customers: Customers) -> GammaGamma:
    """The Gamma-Gamma parameters, from the customers with a repeat purchase of some value."""
    keep = (customers.x > 0) & (customers.mean_value > 0)
    x, m = customers.x[keep], customers.mean_value[keep]
    if len(x) < MIN_REPEAT_CUSTOMERS:
        raise FitError(
            f"{len(x)} customers with a repeat purchase: too few to fit spend (it needs "
            f"{MIN_REPEAT_CUSTOMERS})"
        )
    start: Floats = np.log(np.array([1.0, 2.0, max(float(np.mean(m)), 1e-3)]))
    found = _maximise(_gamma_gamma_log_likelihood, start, (_Spend.of(x, m),))
    _converged(found, "spend")
    p, q, gamma = (float(value) for value in np.exp(found.x))
    if q <= 1:
        raise FitError("the spend model has no finite mean (q <= 1): too little repeat spend")
    return GammaGamma(p=p, q=q, gamma=gamma, log_likelihood=-float(found.fun))


@dataclass(frozen=True)
class Purchase:
    customer: int
    day: date
    value: float


def summarise(
    purchases: Iterable[Purchase], *, as_of: date, unit_days: float = 7.0
) -> tuple[list[int], Customers]:
    """Each customer's (x, t_x, T, mean repeat value) as of the end of `as_of`, in units of
    `unit_days` (weeks by default, as the papers count): purchases on one day are one purchase
    of their summed value; purchases after `as_of` are not seen. Customers whose first purchase
    is after `as_of` are left out. Returns the customers' ids in the order of the arrays."""
    known = sorted((p for p in purchases if p.day <= as_of), key=lambda p: (p.customer, p.day))
    return summarise_sorted(known, as_of=as_of, unit_days=unit_days)


def summarise_sorted(
    purchases: Iterable[Purchase], *, as_of: date, unit_days: float = 7.0
) -> tuple[list[int], Customers]:
    """As `summarise`, for purchases already in (customer, day) order and none after `as_of`
    (a database cursor's): one customer's purchases in memory at a time."""
    ids: list[int] = []
    columns: tuple[list[float], list[float], list[float], list[float]] = ([], [], [], [])
    for customer, theirs in groupby(purchases, key=lambda p: p.customer):
        spent: dict[date, float] = {}
        for purchase in theirs:
            spent[purchase.day] = spent.get(purchase.day, 0.0) + purchase.value
        days = list(spent)  # in day order, as they came
        first, last = days[0], days[-1]
        repeat = [spent[day] for day in days[1:]]
        ids.append(customer)
        columns[0].append(len(days) - 1)
        columns[1].append((last - first).days / unit_days)
        columns[2].append((as_of - first).days / unit_days)
        columns[3].append(sum(repeat) / len(repeat) if repeat else 0.0)
    x, t_x, T, mean_value = (np.array(column, dtype=float) for column in columns)
    return ids, Customers(x=x, t_x=t_x, T=T, mean_value=mean_value)


@dataclass(frozen=True)
class Backtest:
    """A model fitted up to `as_of`, against what the customers did in the `horizon` after:
    by number of repeat purchases before (0, 1, … and the last group "and more"), the
    customers, their purchases predicted and the purchases they made."""

    model: BGNBD
    as_of: date
    horizon_units: float
    groups: list[tuple[str, int, float, int]]  # (repeat purchases, customers, predicted, actual)

    @property
    def predicted(self) -> float:
        return sum(predicted for _, _, predicted, _ in self.groups)

    @property
    def actual(self) -> int:
        return sum(actual for _, _, _, actual in self.groups)


def backtest(
    purchases: Sequence[Purchase],
    *,
    as_of: date,
    horizon_units: float,
    unit_days: float = 7.0,
    groups: int = 7,
) -> Backtest:
    """Fits on what was known by `as_of`, predicts each customer's purchases in the horizon
    after it, and counts the purchases (days with one) they really made then."""
    ids, customers = summarise(purchases, as_of=as_of, unit_days=unit_days)
    model = fit_bgnbd(customers)
    predicted = model.expected_purchases(horizon_units, customers.x, customers.t_x, customers.T)
    end = as_of + timedelta(days=horizon_units * unit_days)
    later: dict[int, set[date]] = {}
    for purchase in purchases:
        if as_of < purchase.day <= end:
            later.setdefault(purchase.customer, set()).add(purchase.day)
    actual = np.array([len(later.get(customer, ())) for customer in ids])
    bucket = np.minimum(customers.x, groups).astype(int)
    rows = []
    for group in range(groups + 1):
        chosen = bucket == group
        label = f"{group}+" if group == groups else str(group)
        rows.append(
            (label, int(chosen.sum()), float(predicted[chosen].sum()), int(actual[chosen].sum()))
        )
    return Backtest(model=model, as_of=as_of, horizon_units=horizon_units, groups=rows)
