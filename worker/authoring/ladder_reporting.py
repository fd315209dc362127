"""The ladder's sections of `ladder report` and the demo's report: the migration matrix and its
shares, the goals' progress (migration), cohort retention (cohorts), churn and repeat purchases
(churn); tables at 80 columns, JSON, and the matrices as heatmaps for the HTML page."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from rich import box
from rich.console import Group as Stack
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from models.types import to_major
from worker.authoring.reporting import money, table
from worker.measurement import goals, migration, retention
from worker.measurement.rung_scheme import Scheme

NEW_ROW = "(new)"  # the matrix row of customers not on the ladder when the period began
OFFSETS = (1, 2, 3, 4, 5, 6, 9, 12)  # the months after the first shown at 80 columns


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _pct1(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _header(name: str) -> str:
    return name.replace("_", "_\n", 1) if len(name) > 7 else name


def _label(since: datetime, by: str) -> str:
    return f"{since:%Y-%m}" if by == "month" else f"{since:%Y}-Q{(since.month - 1) // 3 + 1}"


def _period(since: datetime, until: datetime) -> str:
    return f"{since:%Y-%m-%d} to {until:%Y-%m-%d}"


def matrix_tables(scheme: Scheme, found: migration.Matrix, currency: str) -> list[RenderableType]:
    """Counts from (rows) to (columns), the revenue of the same cells, and the shares."""
    if not found.cells:
        return [Text("Ladder migration: no customer is on the ladder yet.")]
    out: list[RenderableType] = []
    rows: list[str | None] = [None, *found.rungs]
    titles = ("customers", f"revenue in the period ({currency}, whole units)")
    for title in titles:
        shown = Table(
            title=f"ladder migration {_period(found.since, found.until)}: {title}, from (rows)"
            " to (columns)",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
        )
        shown.add_column("from", min_width=10)
        for name in found.rungs:
            shown.add_column(_header(name), justify="right", overflow="fold")
        for from_rung in rows:
            cells = [found.cell(from_rung, to) for to in found.rungs]
            if not any(cells):
                continue
            shown.add_row(from_rung or NEW_ROW, *(_cell(c, title, currency) for c in cells))
        out.append(shown)
    out.append(shares_table(scheme, found, currency))
    return out


def _cell(c: migration.Cell | None, title: str, currency: str) -> str:
    if c is None:
        return ""
    return f"{c.customers:,}" if title == "customers" else f"{to_major(c.revenue, currency):,.0f}"


def shares_table(scheme: Scheme, found: migration.Matrix, currency: str) -> Table:
    shown = table(
        "where each rung's customers went",
        ("from", "customers", "up", "stayed", "down", "lapsed", f"revenue {currency}"),
        right={"customers", "up", "stayed", "down", "lapsed", f"revenue {currency}"},
    )
    starts = [name for name in found.rungs if any(c.from_rung == name for c in found.cells)]
    for name in starts:
        s = migration.shares(scheme, found, name)
        shown.add_row(name, f"{s.on_ladder:,}", *(_pct(s.share(k)) for k in migration.KINDS),
                      money(s.revenue, currency))  # fmt: skip
    whole = migration.shares(scheme, found)
    shown.add_section()
    shown.add_row("total", f"{whole.on_ladder:,}", *(_pct(whole.share(k)) for k in migration.KINDS),
                  money(whole.revenue, currency), style="bold")  # fmt: skip
    if whole.joined:
        shown.add_row(NEW_ROW, f"{whole.joined:,}", "", "", "", "", "")
    return shown


def by_period_table(scheme: Scheme, found: list[migration.Matrix], by: str) -> Table:
    shown = table(
        f"ladder migration by {by}",
        (by, "on ladder", "up", "stayed", "down", "lapsed", "new"),
        right={"on ladder", "up", "stayed", "down", "lapsed", "new"},
    )
    for m in found:
        s = migration.shares(scheme, m)
        label = (
            f"{m.since:%Y-%m}" if by == "month" else f"{m.since:%Y}-Q{(m.since.month - 1) // 3 + 1}"
        )
        shown.add_row(label, f"{s.on_ladder:,}", *(_pct(s.share(k)) for k in migration.KINDS),
                      f"{s.joined:,}")  # fmt: skip
    return shown


def goals_table(progress: list[goals.Progress]) -> RenderableType:
    if not progress:
        return Text("Migration goals: none (measurement/goals.toml).")
    shown = table(
        "migration goals",
        ("goal", "from → to", "cohort", "reached", "target", "deadline", "status"),
        right={"cohort", "reached", "target"},
    )
    styles = {"met": "green", "on track": "green", "behind": "yellow", "missed": "red"}
    serving = []
    for p in progress:
        g = p.goal
        if g.triggers:
            serving.append(f"{g.name}: {', '.join(g.triggers)}")
        shown.add_row(
            g.name,
            f"{g.from_rung} → {g.to_rung}",
            f"{p.cohort:,}",
            f"{p.reached:,} {_pct1(p.share)}",
            f"{g.share:.0%}",
            f"{g.ends_on}",
            Text(p.status, style=styles.get(p.status, "")),
        )
    if not serving:
        return shown
    return Stack(shown, Text("Triggers working for each goal: " + "; ".join(serving) + "."))


def cohorts_table(found: list[retention.Cohort]) -> RenderableType:
    if not found:
        return Text("Cohorts: no first orders in the period.")
    shown = table(
        "retention by first-order month: share who ordered again N months after",
        ("cohort", "customers", *(f"M{n}" for n in OFFSETS)),
        right={"customers", *(f"M{n}" for n in OFFSETS)},
    )
    for c in found:
        shown.add_row(c.month, f"{c.customers:,}", *(_pct(c.retention(n)) for n in OFFSETS))
    return shown


def churn_tables(
    found: list[retention.Churn], top: retention.Pareto, currency: str, by: str
) -> list[RenderableType]:
    shown = table(
        f"churn and repeat purchases by {by} (active: ordered in the last"
        f" {retention.CHURN_AFTER.days} days)",
        (by, "active", "churned", "rate", "buyers", "repeat", "gap days", f"revenue {currency}"),
        right={"active", "churned", "rate", "buyers", "repeat", "gap days", f"revenue {currency}"},
    )
    for c in found:
        label = (
            f"{c.since:%Y-%m}" if by == "month" else f"{c.since:%Y}-Q{(c.since.month - 1) // 3 + 1}"
        )
        gap = "-" if c.mean_gap_days is None else f"{c.mean_gap_days:.0f}"
        shown.add_row(label, f"{c.active:,}", f"{c.churned:,}", _pct1(c.churn_rate),
                      f"{c.buyers:,}", _pct(c.repeat_rate), gap,
                      money(c.revenue, currency))  # fmt: skip
    line = Text(
        f"Pareto: {_pct1(top.share)} of the period's {top.buyers:,} buyers made"
        f" {retention.PARETO:.0%} of its revenue ({money(top.revenue, currency)} {currency})."
    )
    return [shown, line]


@dataclass
class LadderSections:
    """The ladder sections `ladder report` was asked for (None: not asked, or no ladder)."""

    currency: str
    by: str
    scheme: Scheme | None = None
    whole: migration.Matrix | None = None
    periods: list[migration.Matrix] = field(default_factory=list)
    progress: list[goals.Progress] = field(default_factory=list)
    cohorts: list[retention.Cohort] | None = None
    churn: list[retention.Churn] | None = None
    pareto: retention.Pareto | None = None

    def tables(self) -> list[RenderableType]:
        shown: list[RenderableType] = []
        if self.scheme is not None and self.whole is not None:
            shown += matrix_tables(self.scheme, self.whole, self.currency)
            if len(self.periods) > 1:
                shown.append(by_period_table(self.scheme, self.periods, self.by))
            shown.append(goals_table(self.progress))
        if self.cohorts is not None:
            shown.append(cohorts_table(self.cohorts))
        if self.churn is not None and self.pareto is not None:
            shown += churn_tables(self.churn, self.pareto, self.currency, self.by)
        return shown

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.scheme is not None and self.whole is not None:
            out["migration"] = {
                **_matrix_json(self.scheme, self.whole),
                "by": self.by,
                "periods": [_matrix_json(self.scheme, m) for m in self.periods],
                "goals": [_goal_json(p) for p in self.progress],
            }
        if self.cohorts is not None:
            out["cohorts"] = [
                {"month": c.month, "customers": c.customers,
                 "retention": {str(n): c.retention(n) for n in range(1, c.lived + 1)}}
                for c in self.cohorts
            ]  # fmt: skip
        if self.churn is not None and self.pareto is not None:
            out["churn"] = {
                "churn_after_days": retention.CHURN_AFTER.days,
                "periods": [
                    {"since": c.since.isoformat(), "until": c.until.isoformat(),
                     "active": c.active, "churned": c.churned, "churn_rate": c.churn_rate,
                     "buyers": c.buyers, "repeat_buyers": c.repeat_buyers,
                     "repeat_rate": c.repeat_rate, "mean_gap_days": c.mean_gap_days,
                     "revenue_minor": c.revenue}
                    for c in self.churn
                ],
                "pareto": {"buyers": self.pareto.buyers, "top": self.pareto.top,
                           "share": self.pareto.share, "revenue_minor": self.pareto.revenue},
            }  # fmt: skip
        return out

    def heatmaps(self) -> str:
        """The matrix and the cohorts as HTML tables shaded by value, for the report page."""
        parts = []
        if self.whole is not None and self.whole.cells:
            parts.append(matrix_heatmap(self.whole))
        if self.cohorts:
            parts.append(cohort_heatmap(self.cohorts))
        return "\n".join(parts)


def _matrix_json(scheme: Scheme, m: migration.Matrix) -> dict[str, Any]:
    whole = migration.shares(scheme, m)
    return {
        "since": m.since.isoformat(),
        "until": m.until.isoformat(),
        "cells": [
            {"from": c.from_rung, "to": c.to_rung, "customers": c.customers,
             "revenue_minor": c.revenue, "kind": migration.kind(scheme, c.from_rung, c.to_rung)}
            for c in m.cells
        ],
        "on_ladder": whole.on_ladder,
        "joined": whole.joined,
        "shares": {k: whole.share(k) for k in migration.KINDS},
    }  # fmt: skip


def _goal_json(p: goals.Progress) -> dict[str, Any]:
    g = p.goal
    return {
        "name": g.name, "from": g.from_rung, "to": g.to_rung, "share": g.share,
        "start": g.start.isoformat(), "deadline": g.ends_on.isoformat(),
        "triggers": g.triggers, "cohort": p.cohort, "reached": p.reached,
        "reached_share": p.share, "expected_share": p.expected, "status": p.status,
    }  # fmt: skip


def _shade(value: float) -> str:
    """A blue from white (0) to full (1)."""
    level = max(0.0, min(1.0, value))
    r, g, b = (round(255 - level * (255 - x)) for x in (47, 111, 176))
    ink = "#fff" if level > 0.6 else "#000"
    return f"background:rgb({r},{g},{b});color:{ink}"


_CELL = "padding:4px 8px;text-align:right;border:1px solid #ddd"


def matrix_heatmap(m: migration.Matrix) -> str:
    """The matrix's counts, each cell shaded by its share of its row."""
    head = "".join(f'<th style="{_CELL}">{escape(name)}</th>' for name in m.rungs)
    rows = []
    for from_rung in [None, *m.rungs]:
        cells = [m.cell(from_rung, to) for to in m.rungs]
        total = sum(c.customers for c in cells if c)
        if not total:
            continue
        tds = "".join(
            f'<td style="{_CELL};{_shade(c.customers / total)}" title="{c.customers / total:.0%}'
            f' of the row">{c.customers:,}</td>'
            if c
            else f'<td style="{_CELL}"></td>'
            for c in cells
        )
        rows.append(f'<tr><th style="{_CELL}">{escape(from_rung or NEW_ROW)}</th>{tds}</tr>')
    return (
        f"<h2>Ladder migration {_period(m.since, m.until)}: from (rows) to (columns)</h2>\n"
        f'<table style="border-collapse:collapse"><tr><th style="{_CELL}">from</th>{head}</tr>'
        f"{''.join(rows)}</table>"
    )


def cohort_heatmap(found: list[retention.Cohort]) -> str:
    """Retention of each first-order month, month by month, shaded by the share."""
    width = max(c.lived for c in found)
    head = "".join(f'<th style="{_CELL}">M{n}</th>' for n in range(1, width + 1))
    rows = []
    for c in found:
        tds = []
        for n in range(1, width + 1):
            share = c.retention(n)
            cell = "" if share is None else f"{share:.0%}"
            style = _CELL if share is None else f"{_CELL};{_shade(min(1.0, share * 3))}"
            tds.append(f'<td style="{style}">{cell}</td>')
        rows.append(
            f'<tr><th style="{_CELL}">{c.month}</th><td style="{_CELL}">{c.customers:,}</td>'
            f"{''.join(tds)}</tr>"
        )
    return (
        "<h2>Cohort retention: the share of each first-order month who ordered N months after</h2>"
        f'\n<table style="border-collapse:collapse"><tr><th style="{_CELL}">cohort</th>'
        f'<th style="{_CELL}">customers</th>{head}</tr>{"".join(rows)}</table>'
    )


def ladder_sections(
    db: Session,
    *,
    scheme: Scheme | None,
    goal_list: list[goals.Goal],
    chosen: Collection[str],
    since: datetime,
    until: datetime,
    by: str,
    currency: str,
    now: datetime,
) -> LadderSections:
    """The sections in `chosen` (migration, cohorts, churn) over [since, until)."""
    found = LadderSections(currency, by)
    if "migration" in chosen and scheme is not None:
        found.scheme = scheme
        spans = list(migration.periods(since, until, by))
        edges = [since, *(end for _, end in spans)]  # the periods follow each other
        if spans:
            found.whole, found.periods = migration.matrices(db, scheme, edges)
        else:
            found.whole = migration.matrix(db, scheme, since=since, until=until)
        found.progress = [goals.progress(db, scheme, g, now=now) for g in goal_list]
    if "cohorts" in chosen:
        found.cohorts = retention.cohorts(db, since=since, until=until)
    if "churn" in chosen:
        found.churn = retention.churn(db, since=since, until=until, by=by)
        found.pareto = retention.pareto(db, since=since, until=until)
    return found
