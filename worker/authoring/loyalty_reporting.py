"""The report's loyalty section: members against non-members and the programme's cost against
its incremental revenue, as tables at 80 columns and the verdicts in words."""

from __future__ import annotations

import math

from rich.console import Group as Stack
from rich.console import RenderableType
from rich.text import Text

from worker.authoring.reporting import money, table
from worker.measurement.lift import Interval
from worker.measurement.members import Comparison

NO_PROGRAMME = "Loyalty: no programme (set LOYALTY_PROGRAMME to a programme file's name)."


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _mean(total: int, count: int, currency: str) -> str:
    return money(total / count, currency) if count else "-"


def _points(i: Interval) -> str:
    """The difference, and beneath it the interval when the groups' spread is known."""
    if math.isnan(i.difference):
        return "-"
    shown = f"{i.difference * 100:+.1f} pt"
    return shown if math.isnan(i.low) else f"{shown}\n({i.low * 100:+.1f}…{i.high * 100:+.1f})"


def _money(i: Interval, currency: str) -> str:
    if math.isnan(i.difference):
        return "-"
    shown = f"{'+' if i.difference >= 0 else '-'}{money(abs(i.difference), currency)}"
    if math.isnan(i.low):
        return shown
    return f"{shown}\n({money(i.low, currency)}…{money(i.high, currency)})"


def loyalty_tables(found: Comparison | None, currency: str) -> list[RenderableType]:
    if found is None:
        return [Text(NO_PROGRAMME)]
    m, o = found.members, found.others
    period = f"{found.since:%Y-%m-%d} to {found.until:%Y-%m-%d}"
    groups = table(
        f"loyalty {period}: members against non-members who bought before it",
        ("", "members", "non-members", "difference (95 % CI)"),
        right={"members", "non-members", "difference (95 % CI)"},
    )
    rows = (
        ("customers", f"{m.customers:,}", f"{o.customers:,}", ""),
        ("came back", _pct(m.retained, m.customers), _pct(o.retained, o.customers),
         _points(found.retention)),
        ("repeat rate", _pct(m.repeated, m.retained), _pct(o.repeated, o.retained),
         _points(found.repeat)),
        (f"order value {currency}", _mean(m.revenue, m.orders, currency),
         _mean(o.revenue, o.orders, currency), _money(found.order_value, currency)),
        (f"{currency}/customer", _mean(m.revenue, m.customers, currency),
         _mean(o.revenue, o.customers, currency), _money(found.per_customer, currency)),
    )  # fmt: skip
    for row in rows:
        groups.add_row(*row)
    cost = table(
        f"the programme's cost and incremental revenue ({currency})",
        ("", "count", currency),
        right={"count", currency},
    )
    for r in found.redeemed:
        shown = "not valued" if r.value is None else money(r.value, currency)
        cost.add_row(f"redeemed: {r.reward}", f"{r.count:,}", shown)
    cost.add_row("cost: rewards redeemed", "", money(found.cost, currency), style="bold")
    liability = "-" if found.liability is None else money(found.liability, currency)
    cost.add_row("points left at the end: liability", f"{found.points_outstanding:,}", liability)
    cost.add_row("incremental revenue", "", _money(found.incremental, currency), style="bold")
    ratio = "-" if found.ratio is None else f"{found.ratio:.1f}"
    cost.add_row("incremental revenue / cost", "", ratio)
    style = "yellow" if found.too_small else ""
    verdicts = Stack(
        Text(f"members: {found.verdict}", style=style),
        Text(f"cost: {found.cost_verdict}", style=style),
    )
    return [groups, cost, verdicts]
