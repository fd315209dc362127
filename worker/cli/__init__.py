"""`ladder`: the command line for operators and marketers. Parse, call, print a table."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DatabaseError

from models.db import session
from worker import current_time
from worker.settings import get_settings

app = typer.Typer(help="Ladder: lifecycle emails from store events.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
segments_app = typer.Typer(help="RFM segments.", no_args_is_help=True)
sending_app = typer.Typer(help="The email provider: pause and resume.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sending_app, name="sending")
app.add_typer(segments_app, name="segments")
inbox_app = typer.Typer(help="Webhook deliveries as the platforms sent them.", no_args_is_help=True)
customers_app = typer.Typer(help="Customers' personal data.", no_args_is_help=True)
app.add_typer(inbox_app, name="inbox")
app.add_typer(customers_app, name="customers")
console = Console()
err = Console(stderr=True)


def _settings_or_exit() -> None:
    try:
        get_settings()
    except ValidationError as exc:
        err.print(f"[red]Settings refused:[/red] {exc.errors(include_url=False)[0]['msg']}")
        raise typer.Exit(2) from exc


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.callback()
def _main() -> None:
    _settings_or_exit()


def main() -> None:
    """The `ladder` command: the Typer app, and a database without Ladder's tables explained
    instead of a traceback."""
    try:
        app()
    except DatabaseError as exc:
        if not is_missing_table(exc):
            raise
        err.print(
            f"[red]The database has no Ladder tables yet[/red] ({get_settings().database_url}):"
            " run [bold]ladder db upgrade[/bold] first."
        )
        raise SystemExit(1) from exc


def is_missing_table(exc: DatabaseError) -> bool:
    """SQLite's "no such table", PostgreSQL's undefined_table (42P01)."""
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "42P01"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (Procfile `release`)."""
    from models import migrate

    url = get_settings().database_url
    migrate.upgrade(url)
    console.print(f"database at revision [bold]{migrate.current(url)}[/bold]")


@app.command("import")
def import_events(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines file")],
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
) -> None:
    """Import canonical events, one JSON object per line. Idempotent: re-run to resume."""
    from worker.intake.importing import import_file

    result = import_file(path, batch_size=batch_size, console=console)
    table = Table(title=f"Imported {path.name}")
    for column in ("lines", "stored", "duplicates", "invalid"):
        table.add_column(column, justify="right")
    table.add_row(
        *(str(n) for n in (result.lines, result.stored, result.duplicates, result.invalid_count))
    )
    console.print(table)
    if result.invalid:
        bad = Table(title="Invalid lines (first 20): fix them and import again")
        bad.add_column("line", justify="right")
        bad.add_column("field")
        bad.add_column("error")
        for line, field, message in result.invalid[:20]:
            bad.add_row(str(line), field, message)
        console.print(bad)
        raise typer.Exit(1)


@app.command()
def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: Annotated[
        int, typer.Option(min=1, max=64, help="worker threads; SQLite gains little past 2")
    ] = 2,
) -> None:
    """The embedded all-in-one process: web, worker threads and the clock."""
    import uvicorn

    from models import migrate
    from worker.queue.allinone import running_clock, running_worker
    from worker.runtime import get_runtime
    from worker.web import create_app

    _logging()
    runtime = get_runtime()
    migrate.upgrade(runtime.settings.database_url)
    runtime.triggers  # noqa: B018  (fail now, naming the file, if a trigger is invalid)
    with running_worker(threads), running_clock(runtime):
        uvicorn.run(create_app(runtime.settings), host=host, port=port, log_level="info")


@app.command("clock")
def run_clock() -> None:
    """The clock process: due deliveries, the outbox relay, daily segments. One leads."""
    import signal
    import threading

    from worker.queue import clock
    from worker.runtime import get_runtime

    _logging()
    if not get_settings().redis_url:
        err.print(
            "[red]The clock needs REDIS_URL[/red]: without a shared broker no worker would get"
            " its messages. On one machine, `ladder run` runs web, worker and clock together."
        )
        raise typer.Exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    clock.run(get_runtime(), stop)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Events and deliveries by state, and what is stuck."""
    from worker.authoring.status import status_report

    settings = get_settings()
    with session(settings.database_url) as db:
        report = status_report(db, now=current_time.now(), settings=settings)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    for name in ("inbox", "events", "deliveries"):
        table = Table(title=name)
        table.add_column("state")
        table.add_column("rows", justify="right")
        for state, count in report[name].items():
            table.add_row(state, str(count))
        console.print(table)
    table = Table(title="stuck (should be 0 while a clock runs)")
    for column in ("what", "rows", "oldest"):
        table.add_column(column)
    for what, item in report["stuck"].items():
        style = "red" if item["count"] else ""
        table.add_row(what, str(item["count"]), item["oldest"] or "-", style=style)
    console.print(table)
    for pause in report["sending_paused"]:
        console.print(
            f"[red]Sending through {pause['provider']} is paused[/red] since {pause['since']}: "
            f"{pause['reason']}. The next delivery after {pause['probe_at']} tries again; "
            "`ladder sending resume` tries now."
        )
    _print_inbox_unused(report["inbox_unused"])


@sending_app.command("resume")
def sending_resume() -> None:
    """Lift a sending pause (after fixing the API key): deliveries go out on the next tick."""
    from worker.delivery import pauses

    with session(get_settings().database_url) as db:
        lifted = pauses.resume(db, now=current_time.now())
    console.print("sending resumed" if lifted else "sending was not paused")


@sending_app.command("replay-events")
def sending_replay_events() -> None:
    """Apply the provider events that were stored but not applied (see `ladder status`)."""
    from worker.delivery import feedback

    settings = get_settings()
    with session(settings.database_url) as db:
        ids = feedback.unapplied_ids(db)
        applied = feedback.apply_stored(db, ids, now=current_time.now(), settings=settings)
    console.print(f"applied {applied} of {len(ids)} stored provider events")


def _print_inbox_unused(unused: list[dict[str, object]]) -> None:
    if not unused:
        return
    table = Table(title="webhooks kept but not used (`ladder inbox replay` after a fix)")
    for column in ("source", "topic", "state", "rows", "reason"):
        table.add_column(column)
    for item in unused:
        style = "red" if item["status"] == "failed" else ""
        row = (item["source"], item["topic"], item["status"], item["count"], item["reason"] or "")
        table.add_row(*(str(value) for value in row), style=style)
    console.print(table)


@inbox_app.command("replay")
def inbox_replay(
    failed: Annotated[bool, typer.Option("--failed", help="only failed, not ignored")] = False,
    topic: Annotated[str | None, typer.Option(help="only this topic, e.g. orders/create")] = None,
) -> None:
    """Normalise failed and ignored webhook deliveries again, after a fix."""
    from worker.intake import inbox

    with session(get_settings().database_url) as db:
        ids = inbox.replay(db, now=current_time.now(), only_failed=failed, topic=topic)
    console.print(f"{len(ids)} deliveries back to pending, handed to the worker")


@segments_app.command("refresh")
def segments_refresh() -> None:
    """Recompute RFM scores and segments now."""
    from worker.audience import segments

    with session(get_settings().database_url) as db:
        counts = segments.refresh(db, current_time.now())
    table = Table(title="customers by segment")
    table.add_column("segment")
    table.add_column("customers", justify="right")
    for name, count in sorted(counts.items(), key=lambda item: -item[1]):
        table.add_row(name, str(count))
    console.print(table)


@app.command()
def check() -> None:
    """Validate every trigger file and render every template variant with sample data."""
    from worker.authoring.checks import run_checks

    problems = run_checks(get_settings(), console)
    if problems:
        raise typer.Exit(1)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=50, max=100_000)] = 2000,
    seed: int = 7,
) -> None:
    """Build a realistic shop, replay two years through the pipeline, summarise what was sent."""
    from worker.demo import run_demo

    run_demo(customers=customers, seed=seed, console=console)


@customers_app.command("export")
def customers_export(email: str) -> None:
    """Write everything held on a customer to a JSON file (a data request), and record it."""
    from worker.privacy import requests

    settings = get_settings()
    with session(settings.database_url) as db:
        customer = requests.find_customer(db, "cli", None, email)
        if customer is None:
            err.print("[red]No customer with that email address.[/red]")
            raise typer.Exit(1)
        path = requests.export(
            db,
            customer,
            source="cli",
            reference=None,
            now=current_time.now(),
            into=settings.exports_dir,
        )
        db.commit()
    console.print(f"customer {customer.id} exported to {path}")


@customers_app.command("forget")
def customers_forget(email: str) -> None:
    """Erase a customer's personal data everywhere; anonymous order totals are kept."""
    from worker.privacy import requests

    with session(get_settings().database_url) as db:
        customer = requests.find_customer(db, "cli", None, email)
        if customer is None:
            err.print("[red]No customer with that email address.[/red]")
            raise typer.Exit(1)
        requests.forget(db, customer, source="cli", reference=None, now=current_time.now())
        db.commit()
    console.print(f"customer {customer.id} forgotten")


@app.command()
def explain(email: str) -> None:
    """One customer's timeline: events, triggers matched or not and why, every delivery's fate."""
    from worker.authoring.explaining import explain as explain_customer
    from worker.authoring.explaining import print_explanation
    from worker.runtime import get_runtime

    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        found = explain_customer(
            db,
            email,
            triggers=runtime.triggers,
            env=runtime.renderer.env,
            settings=runtime.settings,
            now=current_time.now(),
        )
        if found is None:
            err.print("[red]No customer with that address.[/red]")
            raise typer.Exit(1)
        print_explanation(found, console)


@app.command()
def plan(days: Annotated[int, typer.Option(min=1, max=366)] = 30) -> None:
    """What the trigger files would send over the next days, per trigger, segment and locale."""
    from worker.authoring.planning import plan as plan_period
    from worker.authoring.planning import print_plan
    from worker.runtime import get_runtime

    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        found = plan_period(
            db,
            triggers=runtime.triggers,
            settings=runtime.settings,
            now=current_time.now(),
            days=days,
        )
    print_plan(found, console)


@app.command()
def preview(
    message: Annotated[str, typer.Argument(help="e.g. win_back")],
    segment: Annotated[str | None, typer.Option(help="e.g. champions")] = None,
    locale: Annotated[str | None, typer.Option(help="e.g. de or es_MX")] = None,
    customer: Annotated[str | None, typer.Option(help="a real customer's e-mail")] = None,
    out: Annotated[Path, typer.Option(help="where the files go")] = Path("var/preview"),
    open_: Annotated[bool, typer.Option("--open", help="open the HTML in a browser")] = False,
) -> None:
    """Render one message for a sample or real customer into var/preview/ (HTML and text)."""
    import webbrowser
    from contextlib import nullcontext

    from worker.authoring.preview import PreviewError, render_preview, write_preview
    from worker.rendering.renderer import Renderer, RenderError

    settings = get_settings()
    renderer = Renderer(settings.templates_dir, settings.default_locale)
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
            )
    except (RenderError, PreviewError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    html_path, text_path = write_preview(result, out)
    console.print(f"[bold]{result.email.subject}[/bold]  ({result.email.variant}, {result.locale})")
    console.print(f"preheader: {result.email.preheader}")
    console.print(f"HTML: {html_path}\ntext: {text_path}")
    if open_:
        webbrowser.open(html_path.resolve().as_uri())
