"""`make bench` (rendering): subject + HTML + text of a typical email, beside bare Jinja2.

Both render the same template (the shipped `upsell/champions.html.j2` with its layout and
partials, stylesheet inlined) with the same context and Babel filters in the same process, so
the ratio is what Ladder adds over Jinja2 itself: the sandbox, the variant chain, the subject
and preheader, the UTM tags and the plain-text part.

    python -m bench.rendering [--rounds 5000] [--message upsell] [--segment champions] [--locale en]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from jinja2 import Environment
from rich.console import Console
from rich.table import Table

from worker.authoring.sample_customers import sample_context
from worker.rendering import formatting
from worker.rendering.inlining import InliningLoader
from worker.rendering.links import tag_links
from worker.rendering.plaintext import forget_lines, html_to_text
from worker.rendering.renderer import Renderer
from worker.rendering.variants import formatting_locale, variant_locale
from worker.settings import Settings

TARGET_US = 150.0
TARGET_RATIO = 1.5


def median_us(render: Callable[[], Any], rounds: int) -> float:
    """The median time of one call, in µs, after a warm-up of a tenth of the rounds."""
    for _ in range(max(1, rounds // 10)):
        render()
    times = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        start = clock()
        render()
        times.append(clock() - start)
    return statistics.median(times) / 1000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rendering", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--message", default="upsell")
    parser.add_argument("--segment", default="champions")
    parser.add_argument("--locale", default="en")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings()
    renderer = Renderer(settings.templates_dir, settings.default_locale)
    context = sample_context(settings, segment=args.segment, locale=args.locale)

    def ladder() -> Any:
        return renderer.render(
            args.message, segment=args.segment, locale=args.locale, context=context
        )

    email = ladder()
    bare_env = Environment(
        loader=InliningLoader(settings.templates_dir),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    bare_env.filters.update(formatting.FILTERS)
    template = bare_env.get_template(email.variant)
    code = formatting_locale(variant_locale(email.variant, settings.default_locale), args.locale)
    bare_context = {
        **context,
        "locale": code,
        "language": code.split("_")[0],
        "greeting": formatting.greeting(context["customer"]["first_name"], code.split("_")[0]),
    }
    html = template.render(bare_context)
    bare_us = median_us(lambda: template.render(bare_context), args.rounds)
    ladder_us = median_us(ladder, args.rounds)
    ratio = ladder_us / bare_us
    # The text part reads each line of HTML once (worker/rendering/plaintext.py): a line with the
    # customer's own name is new in every email. The same, each email to a new customer.
    warm_up = max(1, args.rounds // 10)
    strangers = iter(
        [
            {**context, "customer": {**context["customer"], "first_name": f"Olivia {n}"}}
            for n in range(args.rounds + warm_up)
        ]
    )

    def ladder_new_customer() -> Any:
        return renderer.render(
            args.message, segment=args.segment, locale=args.locale, context=next(strangers)
        )

    new_customer_us = median_us(ladder_new_customer, args.rounds)
    # Where Ladder's extra time goes, measured alone on this email's HTML.
    text_us = median_us(lambda: html_to_text(email.html), args.rounds)

    def text_of_a_first_email() -> str:
        forget_lines()
        return html_to_text(email.html)

    first_text_us = median_us(text_of_a_first_email, args.rounds)
    tags_us = median_us(lambda: tag_links(html, args.message, ()), args.rounds)

    table = Table(title=f"rendering {email.variant} ({args.locale}), median of {args.rounds}")
    for column in ("component", "median µs", "ratio to bare", "HTML bytes"):
        table.add_column(column, justify="right")
    table.add_row("bare Jinja2: HTML only", f"{bare_us:.1f}", "1.00", f"{len(html):,}")
    table.add_row(
        "Ladder: subject + HTML + text", f"{ladder_us:.1f}", f"{ratio:.2f}", f"{len(email.html):,}"
    )
    table.add_row(
        "  the same, each to a new customer",
        f"{new_customer_us:.1f}",
        f"{new_customer_us / bare_us:.2f}",
        "",
    )
    table.add_row("  of which: the plain-text part", f"{text_us:.1f}", "", "")
    table.add_row("  the text part, cold", f"{first_text_us:.1f}", "", "")
    table.add_row("  of which: UTM tags on the links", f"{tags_us:.1f}", "", "")
    console = Console()
    console.print(table)
    console.print(
        f"Python {platform.python_version()} on {platform.machine()}; targets: ≤ {TARGET_US:.0f} µs"
        f" ({'met' if ladder_us <= TARGET_US else 'NOT met'}), ≤ {TARGET_RATIO}x bare"
        f" ({'met' if ratio <= TARGET_RATIO else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
