"""The report's charts as inline SVG, drawn by matplotlib: the lift of each holdout with its
interval, revenue per trigger, CLV against what a customer costs, the ABC classes' shares and
NPS by month.

Each chart is drawn on its own `Figure` (no pyplot, no global state, safe in threads), with
text as paths in matplotlib's own DejaVu Sans and ids from a fixed salt: the same numbers give
the same bytes on any machine, and the page fetches no font and runs no script.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from typing import TYPE_CHECKING, Any

from models.types import to_major
from worker.measurement.performance import Line, by_trigger

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from worker.measurement.abc import ClassSummary
    from worker.measurement.lift import Lift
    from worker.measurement.members import Comparison
    from worker.measurement.surveys import Month
    from worker.measurement.value import ValueReport

MAILED, HELD, GOOD, MUTED, INK = "#2f6fb0", "#9aa5b1", "#2e8540", "#c5ccd3", "#1b1f23"
_STYLE: dict[str, Any] = {
    "svg.fonttype": "path",  # glyphs as paths: the page needs no font
    "svg.hashsalt": "ladder",  # ids from content and this salt, not at random
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": MUTED,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": INK,
    "ytick.color": INK,
}
_WIDTH_IN = 6.4  # inches at 100 px each: the page's 80-column tables are about as wide


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str  # an inline <svg> element, with role="img" and the summary as its label
    summary: str  # what the chart says in words, for whoever cannot see it

    def html(self) -> str:
        return f"<figure>{self.svg}<figcaption>{escape(self.summary)}</figcaption></figure>"


def report_charts(
    lines: Sequence[Line],
    found: Sequence[Lift],
    currency: str,
    *,
    worth: ValueReport | None = None,
    classes: Sequence[ClassSummary] | None = None,
    months: Sequence[Month] | None = None,
    loyalty: Comparison | None = None,
) -> list[Chart]:
    """The charts the report's data supports, in the order of its tables; none for a section
    with nothing to draw."""
    charts = [
        revenue_chart(lines, currency),
        lift_chart(found),
        value_chart(worth) if worth is not None else None,
        abc_chart(classes, currency) if classes else None,
        nps_chart(months) if months else None,
        loyalty_chart(loyalty) if loyalty is not None else None,
    ]
    return [chart for chart in charts if chart is not None]


def revenue_chart(lines: Sequence[Line], currency: str) -> Chart | None:
    """Revenue attributed to each trigger's emails, largest first."""
    totals = sorted((t for t in by_trigger(list(lines)) if t.revenue), key=lambda t: t.revenue)
    if not totals:
        return None
    names = [t.trigger for t in totals]
    values = [to_major(t.revenue, currency) for t in totals]
    figure, axes = _figure(len(names))
    bars = axes.barh(names, [float(v) for v in values], color=MAILED, height=0.6)
    axes.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    axes.set_title(f"Revenue credited to each trigger ({currency}, net of refunds)")
    axes.margins(x=0.15)
    axes.xaxis.set_visible(False)
    best = totals[-1]
    summary = (
        f"{len(totals)} triggers earned revenue; the most, {values[-1]:,.2f} {currency}, "
        f"came from {best.trigger}."
    )
    return _chart(figure, "revenue per trigger", summary)


def lift_chart(found: Sequence[Lift]) -> Chart | None:
    """Each holdout's difference in conversion (mailed minus held out, in points) with its
    95 % interval: a bar that stays right of zero is a lift the data can tell."""
    drawn = [lift for lift in found if not math.isnan(lift.conversion.low)]
    if not drawn:
        return None
    drawn.reverse()  # the first listed at the top
    figure, axes = _figure(len(drawn))
    for y, lift in enumerate(drawn):
        i = lift.conversion
        clear = i.excludes_zero and not lift.too_small
        colour = (GOOD if i.difference > 0 else "#b22222") if clear else HELD
        axes.errorbar(
            i.difference * 100,
            y,
            xerr=[[(i.difference - i.low) * 100], [(i.high - i.difference) * 100]],
            fmt="o",
            color=colour,
            ecolor=colour,
            elinewidth=2,
            capsize=4,
        )
        axes.annotate(
            f"{i.difference * 100:+.1f}",
            (i.high * 100, y),
            xytext=(6, -3),
            textcoords="offset points",
            fontsize=8,
            color=INK,
        )
    axes.axvline(0, color=INK, linewidth=0.8)
    axes.set_yticks(range(len(drawn)), [lift.trigger for lift in drawn])
    axes.set_ylim(-0.6, len(drawn) - 0.4)
    axes.margins(x=0.2)
    axes.set_xlabel("conversion, mailed minus held out (points; 95 % interval)")
    axes.set_title("What the holdouts say: the lift of each trigger")
    told = [lift for lift in drawn if lift.conversion.excludes_zero and not lift.too_small]
    summary = (
        f"{len(drawn)} holdouts; {len(told)} show a difference the data can tell apart from "
        "none; grey ones are too small or too close to zero to tell."
    )
    return _chart(figure, "lift of each holdout", summary)


def value_chart(worth: ValueReport) -> Chart | None:
    """What a customer of each segment is predicted to bring, against what winning one cost."""
    known = [s for s in worth.segments if s.predicted is not None]
    if not known:
        return None
    known.sort(key=lambda s: s.predicted or 0)
    currency = worth.currency
    figure, axes = _figure(len(known))
    values = [float(to_major(s.predicted or 0, currency)) for s in known]
    bars = axes.barh([s.segment for s in known], values, color=MAILED, height=0.6)
    axes.bar_label(bars, labels=[f"{v:,.2f}" for v in values], padding=3, fontsize=8)
    cac = worth.latest_cac
    said = "no acquisition cost is set (measurement/acquisition.toml)"
    if cac:
        line = float(to_major(cac, currency))
        axes.axvline(line, color="#b22222", linewidth=1.2, linestyle="--",
                     label=f"what a new customer costs (CAC): {line:,.2f}")  # fmt: skip
        axes.legend(loc="lower right", frameon=False, fontsize=8)
        above = sum(1 for s in known if (s.predicted or 0) >= cac)
        said = f"{above} of {len(known)} segments are worth more than a new customer costs"
    axes.set_title(f"CLV per customer, next {worth.horizon_days} days ({currency})")
    axes.margins(x=0.15)
    axes.xaxis.set_visible(False)
    return _chart(figure, "CLV against CAC", f"{said}.")


def abc_chart(classes: Sequence[ClassSummary], currency: str) -> Chart | None:
    """Each class's share of the customers beside its share of what they spent: the few who
    bring most of the revenue, drawn."""
    customers = sum(c.customers for c in classes)
    spent = sum(c.spent * c.customers for c in classes)
    if not customers or not spent:
        return None
    figure, axes = _figure(len(classes), per_row=0.55)
    names = [c.klass for c in reversed(classes)]
    people = [100 * c.customers / customers for c in reversed(classes)]
    money = [100 * c.spent * c.customers / spent for c in reversed(classes)]
    ys = range(len(names))
    high = 0.36
    for shift, shares, colour, label in (
        (high / 2, people, HELD, "share of customers"),
        (-high / 2, money, MAILED, f"share of spend ({currency})"),
    ):
        bars = axes.barh([y + shift for y in ys], shares, height=high, color=colour, label=label)
        axes.bar_label(bars, labels=[f"{s:.0f} %" for s in shares], padding=3, fontsize=8)
    axes.set_yticks(list(ys), [f"class {n}" for n in names])
    axes.set_xlim(0, 112)
    axes.xaxis.set_visible(False)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    axes.set_title("ABC classes: who brings the revenue")
    top = classes[0]
    summary = (
        f"Class {top.klass}: {100 * top.customers / customers:.0f} % of the customers, "
        f"{100 * top.spent * top.customers / spent:.0f} % of what they spent."
    )
    return _chart(figure, "ABC classes", summary)


def nps_chart(months: Sequence[Month]) -> Chart | None:
    """The net promoter score month by month (-100 to +100)."""
    scored = [m for m in months if m.nps is not None]
    if not scored:
        return None
    figure, axes = _figure(0, height=2.4)
    xs = range(len(scored))
    scores = [m.nps or 0 for m in scored]
    axes.plot(xs, scores, marker="o", color=MAILED, linewidth=1.6)
    for x, m in zip(xs, scored, strict=True):
        axes.annotate(f"{m.nps:+d}", (x, m.nps or 0), xytext=(0, 6),
                      textcoords="offset points", ha="center", fontsize=8)  # fmt: skip
    axes.axhline(0, color=INK, linewidth=0.8)
    axes.set_ylim(-100, 100)
    axes.set_xticks(list(xs), [m.month for m in scored], rotation=0)
    if len(scored) > 8:
        for n, label in enumerate(axes.get_xticklabels()):
            label.set_visible(n % math.ceil(len(scored) / 8) == 0)
    axes.set_title("NPS by month")
    summary = f"NPS {scores[0]:+d} in {scored[0].month}, {scores[-1]:+d} in {scored[-1].month}."
    return _chart(figure, "NPS by month", summary)


def loyalty_chart(found: Comparison) -> Chart | None:
    """Members beside non-members: the share who came back and, of those, who bought twice."""
    m, o = found.members, found.others
    if not m.customers or not o.customers:
        return None
    measures = ("repeat rate", "came back")  # bottom to top
    shares = {
        "members": [_share(m.repeated, m.retained), _share(m.retained, m.customers)],
        "non-members": [_share(o.repeated, o.retained), _share(o.retained, o.customers)],
    }
    figure, axes = _figure(len(measures), per_row=0.55)
    high = 0.36
    for shift, (name, values), colour in zip(
        (high / 2, -high / 2), shares.items(), (MAILED, HELD), strict=True
    ):
        bars = axes.barh([y + shift for y in range(len(measures))], values, height=high,
                         color=colour, label=name)  # fmt: skip
        axes.bar_label(bars, labels=[f"{v:.0f} %" for v in values], padding=3, fontsize=8)
    axes.set_yticks(range(len(measures)), list(measures))
    axes.set_xlim(0, 112)
    axes.xaxis.set_visible(False)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    axes.set_title("Loyalty members against non-members who bought before the period")
    summary = (
        f"{shares['members'][1]:.0f} % of members came back against"
        f" {shares['non-members'][1]:.0f} % of non-members; members select themselves, so this"
        " is not what the programme did."
    )
    return _chart(figure, "loyalty members", summary)


def _share(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def _figure(
    rows: int, *, per_row: float = 0.32, height: float | None = None
) -> tuple[Figure, Axes]:
    _styled()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(_WIDTH_IN, height or 0.9 + per_row * max(rows, 1)), dpi=100)
    return figure, figure.add_subplot()


@cache
def _styled() -> None:
    """matplotlib, imported when a chart is first drawn (the worker never needs it), with the
    report's style set once: rc_context would change the same globals at every chart, which
    two threads drawing at once (the studio) would undo under each other."""
    import matplotlib

    matplotlib.rcParams.update(_STYLE)  # type: ignore[arg-type]


_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


def _chart(figure: Figure, title: str, summary: str) -> Chart:
    out = io.StringIO()
    figure.tight_layout()
    figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    svg = _PROLOGUE.sub("", out.getvalue(), count=1)
    label = escape(f"{title}: {summary}", quote=True)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    return Chart(title, svg, summary)
