"""`ladder report [SECTION]`: what the emails earned and what the holdouts say, as tables
that fit 80 columns, or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from models.db import session
from worker import current_time
from worker.authoring.report import SECTIONS, gather
from worker.cli.output import console, fail
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
    LOYALTY = "loyalty"


class By(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


def report(
    section: Annotated[Section, typer.Argument(help="which part")] = Section.ALL,
    since: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="day after the last, YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write one self-contained page here")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="clv: fit on what was known by this day, not the weekly fit"),
    ] = None,
    by: Annotated[By, typer.Option(help="migration, churn: per month or quarter")] = By.QUARTER,
) -> None:
    """What each trigger's emails earned, the lift its holdout shows, what customers are
    worth (clv, value: CLV:CAC, abc) and say (nps), and how they move: the ladder's migration
    matrix and goals (migration), retention by first-order month (cohorts), churn (churn);
    loyalty members against non-members, the programme's cost and what it earned (loyalty)."""
    settings = get_settings()
    start, end = _day(since, "--since"), _day(until, "--until")
    if start and end and start >= end:
        fail("--since must come before --until", hint="e.g. --since 2026-01-01 --until 2026-07-01")
    now = current_time.now()
    day = (_day(as_of, "--as-of") or now).date()
    chosen = SECTIONS if section == Section.ALL else {section.value}
    with session(settings.database_url) as db:
        found = gather(
            db, settings, chosen, day=day, since=start, until=end, now=now, by=by.value,
            refit=as_of is not None,
        )  # fmt: skip
    if as_json:
        out = {"currency": settings.default_currency, "since": since, "until": until}
        out |= found.as_json()
        sys.stdout.write(json.dumps(out, indent=2, allow_nan=False, default=_nan) + "\n")
        return
    for renderable in found.tables():
        console.print(renderable)
    if html is not None:
        html.write_text(found.page(f"{settings.shop_name}: what the emails earned"), "utf-8")
        console.print(f"Wrote {html}")


def _nan(value: object) -> None:  # json's hook for what it cannot write
    raise TypeError(f"cannot write {value!r}")


def _day(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(0), UTC)
    except ValueError:
        fail(f"{option} {text!r} is not a date", hint="Write it as YYYY-MM-DD.", code=2)
