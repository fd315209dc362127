"""`ladder`: the command line for operators and marketers. Parse, call, print a table.

One module per command group; the commands are registered here, in the order `--help` lists
them. Domain functions return data; printing lives in this package.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DatabaseError

from worker.cli import authoring, customers, importing, processes, status
from worker.cli.output import console, err
from worker.demo import run_demo
from worker.settings import get_settings

app = typer.Typer(help="Ladder: lifecycle emails from store events.", no_args_is_help=True)
app.add_typer(processes.db_app, name="db")
app.add_typer(status.sending_app, name="sending")
app.add_typer(status.segments_app, name="segments")
app.add_typer(status.inbox_app, name="inbox")
app.add_typer(customers.customers_app, name="customers")
app.command("import")(importing.import_events)
app.command()(processes.run)
app.command("clock")(processes.run_clock)
app.command()(status.status)
app.command()(authoring.check)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=50, max=100_000)] = 2000,
    seed: int = 7,
) -> None:
    """Build a realistic shop, replay two years through the pipeline, summarise what was sent."""
    run_demo(customers=customers, seed=seed, console=console)


app.command()(authoring.explain)
app.command()(authoring.plan)
app.command()(authoring.preview)


@app.callback()
def _main() -> None:
    try:
        get_settings()
    except ValidationError as exc:
        err.print(f"[red]Settings refused:[/red] {exc.errors(include_url=False)[0]['msg']}")
        raise typer.Exit(2) from exc


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
