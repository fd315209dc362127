"""`ladder broadcast plan|schedule|cancel|status NAME`: a broadcast file's reach before it is
sent, its next run scheduled or cancelled, and what its runs and A/B variants did; `ladder
ab-test NAME`: the A/B result of a trigger or a broadcast."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

from models.db import session
from triggers import TriggerError, format_duration
from triggers.broadcast import PREFIX, Broadcast
from triggers.series import Series
from worker import current_time
from worker.authoring.broadcast_plan import SCORED, BroadcastPlan, plan_broadcast
from worker.authoring.broadcast_status import (
    BroadcastStatus,
    Rate,
    VariantResult,
    results_of,
    series_steps,
    status_of,
)
from worker.authoring.reporting import money
from worker.cli.output import console, fail, table, when
from worker.runtime import Runtime, get_runtime
from worker.scheduling import broadcast_times, broadcasts
from worker.scheduling.audience_sql import AudienceError

broadcast_app = typer.Typer(
    help="Broadcasts (triggers/broadcasts/*.toml): plan, schedule, cancel, status.",
    no_args_is_help=True,
)
series_app = typer.Typer(
    help="Content series (triggers/series/*.toml): what each step did.", no_args_is_help=True
)
Day = Annotated[
    str | None, typer.Option("--date", help="the run's date (YYYY-MM-DD); default: the next")
]


def _broadcast(runtime: Runtime, db: Session, name: str) -> Broadcast:
    """The enabled broadcast `name` as the clock sends it: the studio's published version
    over the file in git."""
    try:
        runtime.follow(db)
        known = runtime.broadcasts
    except TriggerError as exc:
        fail(str(exc), hint="Fix the file (`ladder check` lists every problem).")
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        fail(
            f"no enabled broadcast named {name!r}",
            hint=f"The files in {runtime.settings.broadcasts_folder} name: {names}.",
        )
    return known[name]


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date", hint="Write it as YYYY-MM-DD, e.g. 2027-01-05.")


@broadcast_app.command("plan")
def plan(name: str, day: Day = None) -> None:
    """Who the next run would reach, per segment and language, and who is held back."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        broadcast = _broadcast(runtime, db, name)
        try:
            found = plan_broadcast(
                db,
                broadcast,
                env=runtime.renderer.env,
                settings=runtime.settings,
                now=current_time.now(),
                day=_day(day),
            )
        except AudienceError as exc:
            fail(f"{name}: audience: {exc}", hint="`ladder check` names its line.")
    print_plan(found, console)


def print_plan(found: BroadcastPlan, console: Console) -> None:
    """The counts per segment and language, and one line saying when it would go."""
    if found.day is None:
        console.print(f"{found.broadcast} has no date left: set a later `date` in its file.")
        return
    columns = ("segment", "language", "reached", "no consent", "budget")
    shown = table(
        f"ladder broadcast plan {found.broadcast}: {found.day} (nothing is sent)",
        columns,
        right=columns[2:],
        caption="no consent: consent, the suppression list or a preference; budget: "
        "MARKETING_PER_DAY/WEEK full at their send time",
    )
    keys = sorted(set(found.reached) | set(found.no_consent) | set(found.budget))
    for key in keys:
        counts = (found.reached[key], found.no_consent[key], found.budget[key])
        shown.add_row(*key, *(f"{count:,}" for count in counts))
    totals = (found.reached, found.no_consent, found.budget)
    shown.add_row("all", "", *(f"{sum(c.values()):,}" for c in totals), style="bold")
    console.print(shown)
    if found.first_send is not None:
        console.print(
            f"{found.audience:,} customers in the audience; the first email goes "
            f"{when(found.first_send)} UTC, the last {when(found.last_send)} UTC."
        )
    if found.test is not None:
        test = found.test
        console.print(
            f"A test first: {found.in_test:,} of them (the test's {test.share:.0%}) get the "
            f"variants; the rest get the one with the most {SCORED[test.metric]} per email, "
            f"{format_duration(test.wait)} later."
        )


@broadcast_app.command("schedule")
def schedule(name: str, day: Day = None) -> None:
    """Schedule the next run (or the one of --date): the clock resolves and sends it."""
    runtime = get_runtime()
    now = current_time.now()
    with session(runtime.settings.database_url) as db:
        broadcast = _broadcast(runtime, db, name)
        try:
            run_id = broadcasts.schedule(
                db, broadcast, now=now, settings=runtime.settings, day=_day(day)
            )
        except broadcasts.ScheduleError as exc:
            fail(str(exc), hint=f"`ladder broadcast status {name}` shows its runs.")
    run_day = _day(day) or broadcast.occurrence(now.date())
    assert run_day is not None  # schedule refused a broadcast without one
    resolve_at = broadcast_times.resolve_at(broadcast, run_day, runtime.settings)
    where = "in each customer's zone" if broadcast.in_customer_zone else broadcast.zone
    console.print(
        f"Scheduled {name} for {run_day} at {broadcast.at:%H:%M} {where} (run {run_id}). "
        f"The clock (`ladder run` or `ladder clock`) resolves its audience at "
        f"{when(resolve_at)} UTC; `ladder broadcast cancel {name}` stops it.",
        highlight=False,
    )


@broadcast_app.command("cancel")
def cancel(name: str) -> None:
    """Cancel its runs not yet resolved and its deliveries not yet sent."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        runs, deliveries = broadcasts.cancel(db, name, now=current_time.now())
    if not runs and not deliveries:
        fail(
            f"{name} has nothing waiting to cancel",
            hint=f"`ladder broadcast status {name}` shows its runs.",
        )
    console.print(f"Cancelled {runs} run(s) and {deliveries:,} delivery(ies) not yet sent.")


@broadcast_app.command("status")
def status(name: str) -> None:
    """Its runs, their deliveries by state, and the A/B result per variant."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        found = status_of(db, name)
    if not found.runs:
        fail(f"{name} has no runs", hint=f"`ladder broadcast schedule {name}` schedules one.")
    print_status(found, console, runtime.settings.default_currency)


def print_status(found: BroadcastStatus, console: Console, currency: str) -> None:
    runs = table(
        f"broadcast {found.broadcast}: runs (UTC)",
        ("run", "date", "status", "when", "deliveries"),
    )
    notes = []
    for run in found.runs:
        moment = run.resolved_at or run.resolve_at
        counts = ", ".join(f"{state} {n:,}" for state, n in sorted(run.deliveries.items()))
        runs.add_row(str(run.id), str(run.day), run.status, when(moment), counts or "-")
        if run.skipped:
            why = "; ".join(f"{reason} {n:,}" for reason, n in sorted(run.skipped.items()))
            notes.append(f"Run {run.id}: held back: {why}.")
        if run.winner is not None:
            notes.append(
                f"Run {run.id}: the winner, {run.winner}, went to the rest ({run.winner_note})."
            )
        elif run.status == "testing" and run.winner_at is not None:
            notes.append(
                f"Run {run.id}: in test; the winner goes to the rest {when(run.winner_at)}."
            )
    console.print(runs)
    for line in notes:
        console.print(line)
    print_results(found.results, console, currency)


def print_results(found: list[VariantResult], console: Console, currency: str) -> None:
    """The per-variant tables: emails sent, opened and clicked, then the orders credited to
    them; each rate with its interval."""
    if not found:
        return
    columns = ("variant", "emails", "opened", "95 % CI", "clicked", "95 % CI ")
    read = table(
        "per variant: emails sent, opened and clicked (as the provider reports them)",
        columns,
        right=columns[1:],
        caption="95 % CI: Wilson's interval of the rate",
    )
    columns = ("variant", "emails", "bought", "95 % CI", f"revenue {currency}", "per email")
    earned = table(
        "per variant: orders credited to the emails (net of refunds)", columns, right=columns[1:]
    )
    for result in found:
        read.add_row(result.variant, f"{result.sent:,}", *_rate(result.opened),
                     *_rate(result.clicked))  # fmt: skip
        earned.add_row(result.variant, f"{result.sent:,}", *_rate(result.bought),
                       money(result.revenue, currency),
                       money(result.revenue_per_email, currency))  # fmt: skip
    console.print(read)
    console.print(earned)


@series_app.command("status")
def series_status(name: str) -> None:
    """Each step of the series: its deliveries by state (the clock adds each day's)."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        runtime.follow(db)  # the series as the studio published it
        found = runtime.series.get(name)
        if found is None:
            names = ", ".join(sorted(runtime.series)) or "none"
            fail(
                f"no enabled series named {name!r}",
                hint=f"The files in {runtime.settings.series_folder} name: {names}.",
            )
        steps = series_steps(db, found.trigger_name, found.steps)
    print_series(found, steps, console)


def print_series(found: Series, steps: list[Counter[str]], console: Console) -> None:
    shown = table(
        f"series {found.name}: one step every {format_duration(found.every)}",
        ("step", "message", "deliveries"),
    )
    for number, (message, counts) in enumerate(zip(found.steps, steps, strict=True), 1):
        states = ", ".join(f"{state} {n:,}" for state, n in sorted(counts.items()))
        shown.add_row(str(number), message, states or "-")
    console.print(shown)


def ab_test(name: str) -> None:
    """The A/B result of a trigger or broadcast NAME: sent, opened, clicked, bought per
    variant."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        runtime.follow(db)  # the triggers and broadcasts as the studio published them
        if name in runtime.broadcasts:
            column = PREFIX + name
        elif name in runtime.triggers.by_name:
            column = name
        else:
            fail(
                f"no trigger or broadcast named {name!r}",
                hint="`ladder check --verbose` lists the trigger and broadcast files.",
            )
        found = results_of(db, column)
    if not found:
        fail(f"{name} has sent nothing yet", hint="Its results show once its emails went out.")
    print_results(found, console, runtime.settings.default_currency)


def _rate(rate: Rate) -> tuple[str, str]:
    low, high = rate.interval()
    return f"{rate.count:,} ({rate.share:.1%})", f"{low * 100:.1f}-{high * 100:.1f} %"
