"""`ladder report [SECTION]`: what the emails earned and what the holdouts say, as tables
that fit 80 columns, or as JSON."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Group as Stack
from rich.text import Text

from models.db import session
from models.types import minor_digits
from worker.cli.output import console, fail, table
from worker.measurement.lift import Lift, lifts
from worker.measurement.performance import Line, by_trigger, performance
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
    if section in (Section.ALL, Section.EMAILS):
        print_emails(lines, currency)
    if section in (Section.ALL, Section.LIFT):
        print_lift(found, currency)


def _nan(value: object) -> None:  # json's hook for what it cannot write
    raise TypeError(f"cannot write {value!r}")


def _day(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(0), UTC)
    except ValueError:
        fail(f"{option} {text!r} is not a date", hint="Write it as YYYY-MM-DD.", code=2)


def money(minor: float, currency: str) -> str:
    digits = minor_digits(currency)
    return f"{minor / 10**digits:,.{digits}f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def print_emails(lines: list[Line], currency: str) -> None:
    if not lines:
        console.print("No emails in this period.")
        return
    totals = by_trigger(lines)
    funnel = table(
        "emails by trigger: what was sent and read",
        ("trigger", "planned", "held", "sent", "deliv.", "opened", "clicked"),
        right={"planned", "held", "sent", "deliv.", "opened", "clicked"},
    )
    earned = table(
        f"what they earned ({currency}, net of refunds)",
        ("trigger", "bought", "revenue", "per recip.", "unsub.", "bounced", "spam"),
        right={"bought", "revenue", "per recip.", "unsub.", "bounced", "spam"},
    )
    for t in totals:
        funnel.add_row(
            t.trigger, *(str(n) for n in (t.scheduled, t.held_out, t.sent)),
            *(_count_and_share(n, t.sent) for n in (t.delivered, t.opened, t.clicked)),
        )  # fmt: skip
        earned.add_row(
            t.trigger,
            _count_and_share(t.converted, t.recipients),
            money(t.revenue, currency),
            money(t.revenue_per_recipient, currency),
            *(str(n) for n in (t.unsubscribes, t.bounces, t.complaints)),
        )
    console.print(funnel)
    console.print(earned)
    detail = table(
        "by segment, variant and language",
        ("trigger", "segment", "variant", "lang", "sent", "bought", "revenue"),
        right={"sent", "bought", "revenue"},
    )
    for line in lines:
        if line.sent or line.held_out:
            variant = line.variant.rsplit("/", 1)[-1].removesuffix(".html.j2")
            detail.add_row(
                line.trigger, line.segment, variant, line.language,
                str(line.sent), str(line.converted), money(line.revenue, currency),
            )  # fmt: skip
    console.print(detail)


def _count_and_share(count: int, whole: int) -> str:
    return f"{count} {_share(count, whole)}" if count else "0"


def print_lift(found: list[Lift], currency: str) -> None:
    if not found:
        console.print(
            "No trigger held anyone out in this period: set `holdout = 0.1` in a trigger to "
            "measure its lift."
        )
        return
    shown = table(
        "lift: mailed against held out, same window",
        ("trigger", "group", "customers", "bought", "rate", f"{currency}/cust."),
        right={"customers", "bought", "rate", f"{currency}/cust."},
    )
    verdicts = []
    for lift in found:
        for name, group in (("mailed", lift.mailed), ("held out", lift.held_out)):
            shown.add_row(
                lift.trigger if name == "mailed" else "",
                name,
                f"{group.customers:,}",
                f"{group.converted:,}",
                f"{group.rate:.1%}",
                money(group.per_customer, currency),
            )
        shown.add_row(
            "",
            "difference",
            "",
            "",
            _interval_points(lift),
            _interval_money(lift, currency),
            style="bold",
        )
        shown.add_section()
        style = "yellow" if lift.too_small else ("green" if lift.conversion.excludes_zero else "")
        verdicts.append(Text(f"{lift.trigger}: {lift.verdict}", style=style))
    console.print(shown)
    console.print(Stack(*verdicts))


def _interval_points(lift: Lift) -> str:
    i = lift.conversion
    if math.isnan(i.low):
        return "-"
    return f"{i.difference * 100:+.1f} pt\n({i.low * 100:+.1f}…{i.high * 100:+.1f})"


def _interval_money(lift: Lift, currency: str) -> str:
    i = lift.revenue
    if math.isnan(i.low):
        return "-"
    sign = "+" if i.difference >= 0 else "-"
    return (
        f"{sign}{money(abs(i.difference), currency)}\n"
        f"({money(i.low, currency)}…{money(i.high, currency)})"
    )
