"""The customer-value sections of `ladder report` and the demo's report: what customers are
worth (CLV), against what winning one costs (CAC), their ABC classes and what they answered
(NPS); tables at 80 columns, and JSON."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rich.console import RenderableType
from sqlmodel import Session

from models.types import to_major
from worker import current_time
from worker.authoring.reporting import table
from worker.measurement import abc, predictions, surveys, value
from worker.settings import Settings


def _money(minor: int | None, currency: str) -> str:
    return "-" if minor is None else f"{to_major(minor, currency):,.2f}"


def clv_tables(fitted: predictions.Fitted, currency: str) -> list[RenderableType]:
    if fitted.purchase is None or fitted.spend is None:
        return [f"CLV as of {fitted.as_of}: not fitted: {fitted.problem}"]
    how = "the weekly fit" if fitted.stored else "fitted now"
    model = table(
        f"CLV models as of {fitted.as_of} ({how}, {fitted.customers:,} customers)",
        ("model", "parameters", "log-likelihood"),
        right={"log-likelihood"},
    )
    p, s = fitted.purchase, fitted.spend
    model.add_row("BG/NBD", f"r {p.r:.3f}, alpha {p.alpha:.3f}, a {p.a:.3f}, b {p.b:.3f}",
                  f"{p.log_likelihood:,.1f}")  # fmt: skip
    model.add_row("Gamma-Gamma", f"p {s.p:.3f}, q {s.q:.3f}, gamma {s.gamma:.3f}",
                  f"{s.log_likelihood:,.1f}")  # fmt: skip
    best = fitted.best(10)
    top = table(
        f"most valuable next {fitted.horizon_days} days ({currency})",
        ("customer", "purchases", "p alive", "orders ahead", "value ahead"),
        right={"purchases", "p alive", "orders ahead", "value ahead"},
    )
    for found in best:
        ahead = _money(found.predicted_value, currency)
        bought = "-" if found.x is None else str(found.x + 1)
        top.add_row(str(found.customer_id), bought, f"{found.p_alive:.2f}",
                    f"{found.predicted_orders:.2f}", ahead)  # fmt: skip
    return [model, top]


def value_tables(report: value.ValueReport) -> list[RenderableType]:
    currency = report.currency
    shown = table(
        f"value per segment ({currency}; CLV: next {report.horizon_days} days)",
        ("segment", "customers", "spent so far", "CLV", "p alive", "CLV:CAC"),
        right={"customers", "spent so far", "CLV", "p alive", "CLV:CAC"},
    )
    for segment in report.segments:
        ratio = report.ratio(segment)
        shown.add_row(
            segment.segment, f"{segment.customers:,}", _money(segment.historic, currency),
            _money(segment.predicted, currency),
            "-" if segment.p_alive is None else f"{segment.p_alive:.2f}",
            "-" if ratio is None else f"{ratio:.1f}",
        )  # fmt: skip
    out: list[RenderableType] = [shown]
    if report.cac:
        cac = table("what winning a customer cost", ("period", "source", "spend", "new", "CAC"),
                    right={"spend", "new", "CAC"})  # fmt: skip
        for c in report.cac:
            cac.add_row(f"{c.start} to {c.end}", c.source, _money(c.spend, currency),
                        f"{c.new_customers:,}", _money(c.per_customer, currency))  # fmt: skip
        out.append(cac)
    out.append(report.verdict())
    return out


def abc_tables(classes: list[abc.ClassSummary], currency: str) -> list[RenderableType]:
    if not classes:
        return ["ABC classes: none yet (the clock scores customers weekly with the CLV fit)."]
    shown = table(
        f"ABC classes ({currency})",
        ("class", "customers", "share", "spent so far", "CLV"),
        right={"customers", "share", "spent so far", "CLV"},
    )
    total = sum(c.customers for c in classes) or 1
    for c in classes:
        shown.add_row(c.klass, f"{c.customers:,}", f"{100 * c.customers / total:.0f} %",
                      _money(c.spent, currency), _money(c.predicted, currency))  # fmt: skip
    return [shown]


def nps_tables(months: list[surveys.Month]) -> list[RenderableType]:
    if not months:
        return ["NPS: no answers in the period."]
    shown = table(
        "NPS and CES by month",
        ("month", "answers", "promoters", "passives", "detractors", "NPS", "CES"),
        right={"answers", "promoters", "passives", "detractors", "NPS", "CES"},
    )
    for m in months:
        shown.add_row(m.month, str(m.answers), str(m.promoters), str(m.passives),
                      str(m.detractors), "-" if m.nps is None else f"{m.nps:+d}",
                      "-" if m.ces_mean is None else f"{m.ces_mean:.2f}")  # fmt: skip
    return [shown]


def clv_json(fitted: predictions.Fitted) -> dict[str, Any]:
    """`ladder report clv --json`: the fitted parameters and each customer's predictions."""
    return {
        "as_of": fitted.as_of.isoformat(),
        "horizon_days": fitted.horizon_days,
        "customers": fitted.customers,
        "problem": fitted.problem,
        "stored": fitted.stored,
        "bgnbd": fitted.parameters().get("bgnbd"),
        "gamma_gamma": fitted.parameters().get("gamma_gamma"),
        "predictions": [
            {"customer_id": p.customer_id, "repeat_purchases": p.x, "t_x_weeks": p.t_x_weeks,
             "T_weeks": p.T_weeks, "p_alive": p.p_alive, "predicted_orders": p.predicted_orders,
             "predicted_value_minor": p.predicted_value}
            for p in fitted.predictions
        ],
    }  # fmt: skip


@dataclass
class CustomerSections:
    """The customer-value sections `ladder report` was asked for (None: not asked)."""

    currency: str
    fitted: predictions.Fitted | None = None
    worth: value.ValueReport | None = None
    classes: list[abc.ClassSummary] | None = None
    months: list[surveys.Month] | None = None

    def tables(self) -> list[RenderableType]:
        shown: list[RenderableType] = []
        if self.fitted is not None:
            shown += clv_tables(self.fitted, self.currency)
        if self.worth is not None:
            shown += value_tables(self.worth)
        if self.classes is not None:
            shown += abc_tables(self.classes, self.currency)
        if self.months is not None:
            shown += nps_tables(self.months)
        return shown

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fitted is not None:
            out["clv"] = clv_json(self.fitted)
        if self.worth is not None:
            v = self.worth
            out["value"] = {
                "horizon_days": v.horizon_days,
                "cac": [asdict(c) | {"per_customer": c.per_customer} for c in v.cac],
                "segments": [asdict(s) | {"clv_to_cac": v.ratio(s)} for s in v.segments],
                "new_customer_value": v.new_customer_value,
                "verdict": v.verdict(),
            }
        if self.classes is not None:
            out["abc"] = [asdict(c) for c in self.classes]
        if self.months is not None:
            out["nps"] = [asdict(m) | {"nps": m.nps} for m in self.months]
        return out


def customer_sections(
    db: Session,
    settings: Settings,
    chosen: Collection[str],
    *,
    day: date,
    since: datetime | None,
    until: datetime | None,
    refit: bool = False,
) -> CustomerSections:
    """What customers are worth as of `day` (clv), against what one costs (value), their
    classes (abc) and their answers between `since` and `until` (nps; a year to now unset).

    CLV comes from the clock's last weekly fit when there is one, unless `refit` asks for the
    models fitted as of `day` (reading every order: a minute at a million customers)."""
    found = CustomerSections(settings.default_currency)
    horizon = settings.clv_horizon_days
    weekly = None
    if not refit and {"clv", "value"} & set(chosen):  # each customer's only for the clv table
        weekly = predictions.stored(db, with_predictions="clv" in chosen)
    if "clv" in chosen:
        found.fitted = weekly or predictions.fit(db, as_of=day, horizon_days=horizon)
    if "value" in chosen:
        now = datetime.combine(day, time(23, 59), tzinfo=UTC)
        found.worth = value.report(
            db, now=now, currency=settings.default_currency, horizon_days=horizon,
            path=settings.measurement_dir / "acquisition.toml", fitted=found.fitted or weekly,
        )  # fmt: skip
    if "abc" in chosen:
        found.classes = abc.summary(db)
    if "nps" in chosen:
        end = until or current_time.now()
        found.months = surveys.by_month(db, since=since or end - timedelta(days=365), until=end)
    return found
