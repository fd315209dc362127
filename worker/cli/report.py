"""`ladder report [SECTION]`: what the emails earned and what the holdouts say, as tables
that fit 80 columns, or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from sqlmodel import Session

from models.db import session
from worker import current_time
from worker.authoring.ladder_reporting import LadderSections, ladder_sections
from worker.authoring.report_page import page
from worker.authoring.reporting import emails_tables, lift_tables
from worker.authoring.value_reporting import customer_sections
from worker.cli.output import console, fail
from worker.measurement import goals
from worker.measurement.goals import goals_path
from worker.measurement.lift import lifts, programme_lift
from worker.measurement.performance import performance
from worker.runtime import get_runtime
from worker.settings import get_settings


class Section(StrEnum):
    ALL = "all"
    EMAILS = "emails"
    LIFT = "lift"
    CLV = "clv"
    VALUE = "value"
    ABC = "abc"
    NPS = "nps"
    MIGRATION = "migration"
    COHORTS = "cohorts"
    CHURN = "churn"


class By(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


LADDER = {Section.MIGRATION, Section.COHORTS, Section.CHURN}


def report(
    section: Annotated[Section, typer.Argument(help="which part")] = Section.ALL,
    since: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="day after the last, YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write one self-contained page here")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="clv: fit on what was known by this day")
    ] = None,
    by: Annotated[By, typer.Option(help="migration, churn: per month or quarter")] = By.QUARTER,
) -> None:
    """What each trigger's emails earned, the lift its holdout shows, what customers are
    worth (clv, value: CLV:CAC, abc) and say (nps), and how they move: the ladder's migration
    matrix and goals (migration), retention by first-order month (cohorts), churn (churn)."""
    settings = get_settings()
    start, end = _day(since, "--since"), _day(until, "--until")
    if start and end and start >= end:
        fail("--since must come before --until", hint="e.g. --since 2026-01-01 --until 2026-07-01")
    day = (_day(as_of, "--as-of") or current_time.now()).date()
    wanted = {Section.EMAILS, Section.LIFT, Section.CLV, Section.VALUE, Section.ABC, Section.NPS}
    chosen: set[Section] = wanted | LADDER if section == Section.ALL else {section}
    currency = settings.default_currency
    with session(settings.database_url) as db:
        lines = performance(db, since=start, until=end, default_locale=settings.default_locale)
        found = lifts(db, since=start, until=end)
        # The whole programme against the global holdout: over the period, else the last year.
        last = end or current_time.now()
        first = start or last - timedelta(days=365)
        whole = programme_lift(db, share=settings.global_holdout, since=first, until=last)
        found += [whole] if whole is not None else []
        sections = customer_sections(db, settings, chosen, day=day, since=start, until=end)
        ladder = _ladder(db, chosen, since=start, until=end, by=by)
    if as_json:
        out: dict[str, Any] = {"currency": currency, "since": since, "until": until}
        if Section.EMAILS in chosen:
            out["emails"] = [line.as_dict() for line in lines]
        if Section.LIFT in chosen:
            out["lift"] = [lift.as_dict() for lift in found]
        out |= sections.as_json() | ladder.as_json()
        sys.stdout.write(json.dumps(out, indent=2, allow_nan=False, default=_nan) + "\n")
        return
    shown: list[RenderableType] = []
    if Section.EMAILS in chosen:
        shown += emails_tables(lines, currency)
    if Section.LIFT in chosen:
        shown += lift_tables(found, currency)
    shown += sections.tables() + ladder.tables()
    for renderable in shown:
        console.print(renderable)
    if html is not None:
        title = f"{settings.shop_name}: what the emails earned"
        html.write_text(page(title, shown, found, ladder.heatmaps()), encoding="utf-8")
        console.print(f"Wrote {html}")


def _ladder(
    db: Session, chosen: set[Section], *, since: datetime | None, until: datetime | None, by: By
) -> LadderSections:
    """The ladder's sections over the period: unset, the year up to the end of today."""
    runtime = get_runtime()
    now = current_time.now()
    end = until or datetime.combine(now.date() + timedelta(days=1), time(0), UTC)
    scheme = runtime.rung_scheme
    goal_list = goals.load_goals(goals_path(runtime.settings.measurement_dir), scheme)
    return ladder_sections(
        db, scheme=scheme, goal_list=goal_list, chosen={str(s) for s in chosen & LADDER},
        since=since or end - timedelta(days=365), until=end, by=str(by),
        currency=runtime.settings.default_currency, now=now,
    )  # fmt: skip


def _nan(value: object) -> None:  # json's hook for what it cannot write
    raise TypeError(f"cannot write {value!r}")


def _day(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(0), UTC)
    except ValueError:
        fail(f"{option} {text!r} is not a date", hint="Write it as YYYY-MM-DD.", code=2)
