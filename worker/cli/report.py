"""`ladder report [SECTION]`: what the emails earned and what the holdouts say, as tables
that fit 80 columns, or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from models.db import session
from worker.authoring.report_page import page
from worker.authoring.reporting import emails_tables, lift_tables
from worker.cli.output import console, fail
from worker.measurement.lift import lifts
from worker.measurement.performance import performance
from worker.settings import get_settings


class Section(StrEnum):
    ALL = "all"
    EMAILS = "emails"
    LIFT = "lift"


def report(
    section: Annotated[Section, typer.Argument(help="which part")] = Section.ALL,
    since: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="day after the last, YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write one self-contained page here")
    ] = None,
) -> None:
    """What each trigger's emails earned, and the lift its holdout shows."""
    settings = get_settings()
    start, end = _day(since, "--since"), _day(until, "--until")
    if start and end and start >= end:
        fail("--since must come before --until", hint="e.g. --since 2026-01-01 --until 2026-07-01")
    with session(settings.database_url) as db:
        lines = performance(db, since=start, until=end, default_locale=settings.default_locale)
        found = lifts(db, since=start, until=end)
    currency = settings.default_currency
    if as_json:
        out: dict[str, Any] = {"currency": currency, "since": since, "until": until}
        if section in (Section.ALL, Section.EMAILS):
            out["emails"] = [line.as_dict() for line in lines]
        if section in (Section.ALL, Section.LIFT):
            out["lift"] = [lift.as_dict() for lift in found]
        sys.stdout.write(json.dumps(out, indent=2, allow_nan=False, default=_nan) + "\n")
        return
    shown = []
    if section in (Section.ALL, Section.EMAILS):
        shown += emails_tables(lines, currency)
    if section in (Section.ALL, Section.LIFT):
        shown += lift_tables(found, currency)
    for renderable in shown:
        console.print(renderable)
    if html is not None:
        title = f"{settings.shop_name}: what the emails earned"
        html.write_text(page(title, shown, found), encoding="utf-8")
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
