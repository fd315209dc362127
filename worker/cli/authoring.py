"""`ladder check`, `ladder preview`, `ladder plan`, `ladder explain`: what a marketer asks of
the trigger and template files, and of one customer."""

from __future__ import annotations

import webbrowser
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from models.db import session
from triggers import TriggerError, load_triggers
from worker import current_time
from worker.authoring import proofs
from worker.authoring.checks import CheckReport, run_checks
from worker.authoring.explaining import Explanation
from worker.authoring.explaining import explain as explain_customer
from worker.authoring.planning import Plan
from worker.authoring.planning import plan as plan_period
from worker.authoring.preview import (
    PreviewError,
    render_preview,
    sending_trigger,
    write_preview,
)
from worker.cli.output import console, err, fail, table, when
from worker.providers import DeliveryError
from worker.rendering.renderer import Renderer, RenderError
from worker.runtime import get_runtime
from worker.settings import get_settings


def check(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="also list every file that is ok")
    ] = False,
) -> None:
    """Validate every trigger file and render every template variant with sample data."""
    report = run_checks(get_settings())
    print_check(report, console, verbose=verbose)
    if report.problems:
        raise typer.Exit(1)


def print_check(report: CheckReport, console: Console, *, verbose: bool = False) -> None:
    """Problems first, each on a line of its own (editors open file:line); the files that are
    ok only with --verbose, after them, so a problem is never scrolled away by ok rows."""
    for problem_line in report.problems:  # one per line, unwrapped: editors open file:line
        console.print(problem_line, style="red", soft_wrap=True, markup=False, highlight=False)
    ok = [item for item in report.checked if item.ok]
    if verbose and ok:
        checked = table("ladder check: ok", ("kind", "name", "result"))
        for item in ok:
            checked.add_row(
                item.kind, item.name, "ok" + (f" — {item.detail}" if item.detail else "")
            )
        console.print(checked)
    console.print(
        f"{len(ok)} file(s) ok{'' if verbose else ' (--verbose lists them)'}, "
        f"{report.renditions} combinations of message, segment and language rendered, "
        f"{len(report.problems)} problem(s)."
    )


def explain(email: str) -> None:
    """One customer's timeline: events, triggers matched or not and why, every delivery's fate."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        runtime.follow(db)  # the triggers as the studio published them
        found = explain_customer(
            db,
            email,
            triggers=runtime.triggers,
            env=runtime.renderer.env,
            settings=runtime.settings,
            now=current_time.now(),
            broadcasts=runtime.broadcasts,
        )
        if found is None:
            fail(f"no customer with the address {email!r}")
        print_explanation(found, console)


def print_explanation(found: Explanation, console: Console) -> None:
    """The customer, their timeline and their deliveries, as three tables."""
    c = found.customer
    facts = table(f"customer {c.id}", ("fact", "value"), show_header=False)
    for label, value in (
        ("segment", f"{c.segment or '-'} (rfm {c.rfm or '-'})"),
        (
            "orders",
            f"{c.orders_count}, first {when(c.first_order_at)}, last {when(c.last_order_at)}",
        ),
        ("locale, zone", f"{c.locale or '-'}, {c.timezone or 'the shop zone'}"),
        ("marketing consent", "yes" if c.accepts_marketing else "no"),
        ("suppressed", "yes" if found.suppressed else "no"),
    ):
        facts.add_row(label, value)
    console.print(facts)
    timeline = table("timeline (UTC)", ("when", "event", "triggers", "why"))
    timeline.columns[2].no_wrap = True  # "thank-you: matched" whole; the why column folds
    for step in found.steps:
        rows = [(m.trigger + ": " + m.outcome, m.detail) for m in step.matches]
        rows += [(f"cancelled the waiting {name}", "its `unless`") for name in step.cancels]
        first, *more = rows or [("-", "")]
        event = step.event
        timeline.add_row(when(event.occurred_at), f"{event.type} ({event.source})", *first)
        for row in more:
            timeline.add_row("", "", *row)
    console.print(timeline)
    deliveries = table("deliveries (UTC)", ("id", "trigger", "status", "when", "reason"))
    # One time a row, so names stay whole at 80 columns: when it was sent, else when it is
    # (or was) to go; a due time the budget or quiet hours moved is said in the reason.
    for d in found.deliveries:
        moved = d.sent_at is None and d.due_at is not None and d.due_at != d.send_at
        reason = "; ".join(
            part for part in (f"due {when(d.due_at)}" if moved else "", d.reason or "") if part
        )
        name = d.trigger + (f" ({d.ab_variant})" if d.ab_variant else "")
        deliveries.add_row(str(d.id), name, str(d.status), when(d.sent_at or d.send_at), reason)
    console.print(deliveries)


def plan(days: Annotated[int, typer.Option(min=1, max=366)] = 30) -> None:
    """What the trigger files would send over the next days, per trigger, segment and locale."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        runtime.follow(db)  # the triggers as the studio published them
        found = plan_period(
            db,
            triggers=runtime.triggers,
            settings=runtime.settings,
            now=current_time.now(),
            days=days,
        )
    print_plan(found, console)


def print_plan(found: Plan, console: Console) -> None:
    """Per trigger, then per trigger x segment x locale, as rich tables."""
    columns = (
        "trigger", "customers entering", "emails", "held out", "no consent",
        "send_if not now", "deferred by budget", "skipped by budget",
    )  # fmt: skip
    summary = table(
        f"ladder plan: the next {found.days} days (an estimate, nothing is sent)",
        columns,
        right=columns[1:],
        caption="segment triggers: the moves the next refresh would make",
    )
    per_trigger: Counter[str] = Counter()
    for (name, _, _), count in found.emails.items():
        per_trigger[name] += count
    apart = (found.held_out, found.no_consent, found.not_send_if, found.deferred, found.skipped)
    for name in sorted(found.entering):
        summary.add_row(
            name,
            str(len(found.entering[name])),
            str(per_trigger[name]),
            *(str(counts[name]) for counts in apart),
        )
    console.print(summary)
    detail = table(
        "emails by trigger, segment and locale",
        ("trigger", "segment", "locale", "emails"),
        right={"emails"},
    )
    for (name, segment, locale), count in sorted(found.emails.items()):
        detail.add_row(name, segment, locale, str(count))
    console.print(detail)


def preview(
    message: Annotated[str, typer.Argument(help="e.g. win_back")],
    segment: Annotated[str | None, typer.Option(help="e.g. champions")] = None,
    locale: Annotated[str | None, typer.Option(help="e.g. de or es_MX")] = None,
    customer: Annotated[str | None, typer.Option(help="a real customer's e-mail")] = None,
    out: Annotated[Path, typer.Option(help="where the files go")] = Path("var/preview"),
    open_: Annotated[bool, typer.Option("--open", help="open the HTML in a browser")] = False,
) -> None:
    """Render one message for a sample or real customer into var/preview/ (HTML and text)."""
    settings = get_settings()
    renderer = Renderer(settings.templates_dir, settings.default_locale)
    try:
        trigger = sending_trigger(load_triggers(settings.triggers_dir, renderer.env), message)
    except TriggerError:
        trigger = None  # a broken trigger file: `ladder check` names it; the preview still renders
    try:
        with session(settings.database_url) if customer else nullcontext() as db:
            result = render_preview(
                renderer,
                settings,
                message,
                segment=segment,
                locale=locale,
                db=db,
                email=customer,
                now=current_time.now(),
                trigger=trigger,
            )
    except (RenderError, PreviewError) as exc:
        fail(str(exc))
    html_path, text_path = write_preview(result, out)
    console.print(f"[bold]{result.email.subject}[/bold]  ({result.email.variant}, {result.locale})")
    console.print(f"preheader: {result.email.preheader}")
    console.print(f"HTML: {html_path}\ntext: {text_path}")
    if open_:
        webbrowser.open(html_path.resolve().as_uri())


def send_test(
    message: Annotated[str, typer.Argument(help="e.g. thank_you")],
    to: Annotated[str, typer.Option("--to", help="the address the test goes to")],
    customer: Annotated[
        str | None, typer.Option(help="render for this real customer's e-mail")
    ] = None,
    segment: Annotated[str | None, typer.Option(help="e.g. champions")] = None,
    locale: Annotated[str | None, typer.Option(help="e.g. de or es_MX")] = None,
) -> None:
    """Send one message now to --to, marked as a test, through the configured backend."""
    runtime = get_runtime()
    try:
        with session(runtime.settings.database_url) if customer else nullcontext() as db:
            proof = proofs.send_test(
                runtime,
                message,
                to=to,
                now=current_time.now(),
                db=db,
                customer=customer,
                segment=segment,
                locale=locale,
            )
    except (proofs.ProofError, PreviewError, RenderError, DeliveryError) as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    shown, where = proof.preview, proof.provider_message_id
    if where.startswith("file:"):  # the file backend: say where to open it
        where = str(runtime.settings.outbox_dir / where.removeprefix("file:"))
    console.print(
        f"Sent a test of [bold]{message}[/bold] ({shown.email.variant}, {shown.segment}, "
        f"{shown.locale}, for {shown.customer}) to {proof.to}: {where}",
        highlight=False,
    )
