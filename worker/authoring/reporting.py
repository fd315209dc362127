"""The report's tables (`ladder report`, and the end of `ladder demo`): what each trigger's
emails earned and what its holdout shows, built from `worker.measurement`, fitting 80 columns."""

from __future__ import annotations

import math

from rich.console import Group as Stack
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from models.types import minor_digits
from worker.measurement.lift import Lift
from worker.measurement.performance import Line, by_trigger


def money(minor: float, currency: str) -> str:
    digits = minor_digits(currency)
    return f"{minor / 10**digits:,.{digits}f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def emails_tables(lines: list[Line], currency: str) -> list[RenderableType]:
    """What each trigger's emails did and earned, then the detail: three tables at 80 columns."""
    if not lines:
        return [Text("No emails in this period.")]
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
    return [funnel, earned, detail]


def _count_and_share(count: int, whole: int) -> str:
    return f"{count} {_share(count, whole)}" if count else "0"


def lift_tables(found: list[Lift], currency: str) -> list[RenderableType]:
    """Mailed against held out for each trigger with a holdout, and each verdict in words."""
    if not found:
        return [
            Text(
                "No trigger held anyone out in this period: set `holdout = 0.1` in a trigger"
                " to measure its lift."
            )
        ]
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
    return [shown, Stack(*verdicts)]


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


def table(title: str, columns: tuple[str, ...], *, right: set[str]) -> Table:
    """Text columns fold rather than cut; counts align right."""
    shown = Table(title=title)
    for column in columns:
        shown.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return shown
