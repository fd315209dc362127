"""The report as a whole (`ladder report`, the end of `ladder demo`, later the studio): each
section asked for gathered once from `worker.measurement`, then printed as tables at 80
columns, written as JSON, or drawn as one self-contained page (styles inline, charts inline
SVG: it fetches nothing, to open from disk or attach to an email)."""

from __future__ import annotations

import io
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any

from rich.console import Console, RenderableType
from sqlmodel import Session

from triggers.programme import load_programme
from worker.audience.segments import segment_names
from worker.authoring.charts import Chart, report_charts
from worker.authoring.ladder_reporting import LadderSections, ladder_sections
from worker.authoring.loyalty_reporting import loyalty_tables
from worker.authoring.reporting import emails_tables, lift_tables
from worker.authoring.value_reporting import CustomerSections, customer_sections
from worker.measurement import goals, rung_scheme
from worker.measurement.lift import Lift, lifts, programme_lift
from worker.measurement.members import Comparison, compare
from worker.measurement.performance import Line, performance
from worker.settings import Settings

SECTIONS = (
    "emails", "lift", "clv", "value", "abc", "nps", "migration", "cohorts", "churn", "loyalty",
)  # fmt: skip
LADDER = ("migration", "cohorts", "churn")  # over the period, the year to today when open


@dataclass
class Report:
    currency: str
    lines: list[Line] | None  # None: the section was not asked for
    found: list[Lift] | None
    sections: CustomerSections
    ladder: LadderSections | None = None  # the ladder's sections (migration, cohorts, churn)
    loyalty: Comparison | None = None  # members against non-members, the programme's cost
    loyalty_asked: bool = False  # None above, asked for: no programme

    def tables(self) -> list[RenderableType]:
        shown: list[RenderableType] = []
        if self.lines is not None:
            shown += emails_tables(self.lines, self.currency)
        if self.found is not None:
            shown += lift_tables(self.found, self.currency)
        shown += self.sections.tables()
        shown += self.ladder.tables() if self.ladder is not None else []
        return shown + (loyalty_tables(self.loyalty, self.currency) if self.loyalty_asked else [])

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.lines is not None:
            out["emails"] = [line.as_dict() for line in self.lines]
        if self.found is not None:
            out["lift"] = [lift.as_dict() for lift in self.found]
        out |= self.sections.as_json()
        out |= self.ladder.as_json() if self.ladder is not None else {}
        if self.loyalty_asked:
            out["loyalty"] = self.loyalty.as_dict() if self.loyalty is not None else None
        return out

    def charts(self) -> list[Chart]:
        s = self.sections
        return report_charts(
            self.lines or [], self.found or [], self.currency,
            worth=s.worth, classes=s.classes, months=s.months, loyalty=self.loyalty,
        )  # fmt: skip

    def page(self, title: str) -> str:
        """One self-contained HTML page: the tables as `ladder report` prints them, then the
        charts, each with what it says in words."""
        recorder = Console(record=True, width=80, file=io.StringIO(), color_system="truecolor")
        for renderable in self.tables():
            recorder.print(renderable)
        tables = recorder.export_html(inline_styles=True, code_format="<pre>{code}</pre>")
        charts = "\n".join(chart.html() for chart in self.charts())
        heatmaps = self.ladder.heatmaps() if self.ladder is not None else ""
        verdicts = "".join(
            f"<li><b>{escape(lift.trigger)}</b>: {escape(lift.verdict)}</li>"
            for lift in self.found or []
        )
        return (
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>{escape(title)}</title>\n<style>{_STYLE}</style></head>\n<body>"
            f"<h1>{escape(title)}</h1>\n<main><section>{tables}</section>\n"
            f"<section class=charts><h2>Charts</h2>\n{charts}\n"
            f"{f'<h2>Verdicts</h2><ul>{verdicts}</ul>' if verdicts else ''}</section>"
            f"{f'<section>{heatmaps}</section>' if heatmaps else ''}</main>\n"
            "</body></html>\n"
        )


_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#1b1f23}"
    "main{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}"
    "pre{margin:0}figure{margin:0 0 1.5em}figcaption{font-size:.9em;color:#444;max-width:40em}"
    "section.charts{max-width:680px}"
)


def gather(
    db: Session,
    settings: Settings,
    chosen: Collection[str],
    *,
    day: date,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    refit: bool = False,
    by: str = "quarter",
) -> Report:
    """The sections in `chosen` (of SECTIONS) for emails due in [since, until); the customer
    sections as of `day`. The whole programme's lift against the global holdout covers the
    period, or the year to `until` (else `now`) when the period is open. CLV is the clock's
    weekly fit unless `refit` asks for one as of `day`."""
    lines = found = None
    if "emails" in chosen:
        lines = performance(db, since=since, until=until, default_locale=settings.default_locale)
    if "lift" in chosen:
        found = lifts(db, since=since, until=until)
        last = until or now
        whole = programme_lift(
            db, share=settings.global_holdout, since=since or last - timedelta(days=365),
            until=last,
        )  # fmt: skip
        found += [whole] if whole is not None else []
    sections = customer_sections(
        db, settings, chosen, day=day, since=since, until=until, refit=refit
    )
    ladder = None
    if set(chosen) & set(LADDER):
        ladder = _ladder(db, settings, chosen, since=since, until=until, now=now, by=by)
    report = Report(settings.default_currency, lines, found, sections, ladder)
    if "loyalty" in chosen:
        report.loyalty_asked = True
        report.loyalty = _loyalty(db, settings, since=since, until=until, now=now)
    return report


def _loyalty(
    db: Session,
    settings: Settings,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> Comparison | None:
    """Members against non-members over [since, until), unset the year up to the end of
    today; None without a programme."""
    programme = load_programme(settings.triggers_dir, settings.loyalty_programme)
    if programme is None:
        return None
    end = until or datetime.combine(now.date() + timedelta(days=1), time(0), UTC)
    return compare(
        db, programme, since=since or end - timedelta(days=365), until=end,
        currency=settings.default_currency, global_holdout=settings.global_holdout,
    )  # fmt: skip


def _ladder(
    db: Session,
    settings: Settings,
    chosen: Collection[str],
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    by: str,
) -> LadderSections:
    """The ladder's sections over [since, until): unset, the year up to the end of today.
    `by`: month or quarter, for the matrix's periods and churn."""
    end = until or datetime.combine(now.date() + timedelta(days=1), time(0), UTC)
    folder = settings.measurement_dir
    scheme = rung_scheme.load_scheme(rung_scheme.default_path(folder), segments=segment_names())
    return ladder_sections(
        db, scheme=scheme, goal_list=goals.load_goals(goals.goals_path(folder), scheme),
        chosen=set(chosen) & set(LADDER), since=since or end - timedelta(days=365), until=end,
        by=by, currency=settings.default_currency, now=now,
    )  # fmt: skip
