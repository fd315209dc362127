"""`ladder report --html FILE`: the report's tables and a chart of each lift as one page that
fetches nothing (styles inline, charts inline SVG), to open from disk or attach to an email."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from html import escape

from rich.console import Console, RenderableType

from worker.measurement.lift import Lift

_WIDTH, _BAR, _GAP = 560, 22, 8


def page(
    title: str, renderables: Sequence[RenderableType], found: Sequence[Lift], extra: str = ""
) -> str:
    """One self-contained HTML page: the tables as `ladder report` prints them (80 columns),
    then a chart of the conversion rates of each trigger's mailed and held-out groups, then
    `extra` (the ladder's heatmaps, HTML made from numbers only)."""
    recorder = Console(record=True, width=80, file=io.StringIO(), color_system="truecolor")
    for renderable in renderables:
        recorder.print(renderable)
    tables = recorder.export_html(inline_styles=True, code_format="<pre>{code}</pre>")
    charts = "\n".join(lift_chart(lift) for lift in found)
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title></head>\n"
        '<body style="font-family: sans-serif; margin: 2em">'
        f"<h1>{escape(title)}</h1>\n{tables}\n{charts}\n{extra}\n</body></html>\n"
    )


def lift_chart(lift: Lift) -> str:
    """Two bars (mailed, held out: the share who bought) and the difference's 95 % interval
    as a whisker beside them, in inline SVG."""
    rates = (lift.mailed.rate, lift.held_out.rate)
    top = max(*rates, 0.01)
    scale = (_WIDTH - 200) / top
    rows = []
    for n, (name, rate) in enumerate(zip(("mailed", "held out"), rates, strict=True)):
        y = 10 + n * (_BAR + _GAP)
        rows.append(
            f'<text x="0" y="{y + 16}" font-size="13">{name}</text>'
            f'<rect x="80" y="{y}" width="{rate * scale:.1f}" height="{_BAR}" '
            f'fill="{"#2f6fb0" if n == 0 else "#9aa5b1"}"/>'
            f'<text x="{86 + rate * scale:.1f}" y="{y + 16}" font-size="13">{rate:.1%}</text>'
        )
    interval = lift.conversion
    whisker = ""
    if not math.isnan(interval.low):
        whisker = (
            f'<text x="0" y="{20 + 2 * (_BAR + _GAP)}" font-size="13">difference '
            f"{interval.difference * 100:+.1f} points, 95 % CI {interval.low * 100:+.1f} to "
            f"{interval.high * 100:+.1f}</text>"
        )
    height = 30 + 2 * (_BAR + _GAP)
    return (
        f"<h2>{escape(lift.trigger)}: conversion, mailed against held out</h2>\n"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(lift.verdict, quote=True)}">'
        f"{''.join(rows)}{whisker}</svg>\n<p>{escape(lift.verdict)}</p>"
    )
