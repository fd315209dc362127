"""`ladder`: the command line for operators and marketers. Parse, call, print a table.

One module per command group; the commands are registered here, in the order `--help` lists
them. Domain functions return data; printing lives in this package.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import DatabaseError, OperationalError

from worker.cli.output import console, err, fail
from worker.settings import Settings, get_settings


def _refuse_bad_settings() -> None:
    """Settings refused, one line per variable, before the modules below read them as they
    load (the broker is built at import, as Dramatiq expects) and a traceback says it instead."""
    try:
        get_settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            err.print(f"[red]Settings refused:[/red] {message}", highlight=False)
        raise SystemExit(2) from None


_refuse_bad_settings()

from worker.cli import (  # noqa: E402
    authoring,
    broadcasts,
    causes,
    customers,
    importing,
    loyalty,
    processes,
    report,
    rewards,
    status,
    templates,
    users,
)
from worker.demo import run_demo  # noqa: E402

app = typer.Typer(help="Ladder: lifecycle emails from store events.", no_args_is_help=True)
app.add_typer(processes.db_app, name="db")
app.add_typer(status.sending_app, name="sending")
app.add_typer(status.segments_app, name="segments")
app.add_typer(status.inbox_app, name="inbox")
app.add_typer(customers.customers_app, name="customers")
app.add_typer(broadcasts.broadcast_app, name="broadcast")
app.add_typer(broadcasts.series_app, name="series")
app.add_typer(templates.templates_app, name="templates")
app.add_typer(users.users_app, name="users")
app.add_typer(loyalty.loyalty_app, name="loyalty")  # with `rewards` and `codes` (cli/rewards.py)
assert rewards.codes_app is not None  # registered on loyalty_app when imported
assert causes.donate is not None  # `donate`, `causes`, `draw`: on loyalty_app when imported
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
app.command("ab-test")(broadcasts.ab_test)
app.command()(authoring.plan)
app.command()(authoring.preview)
app.command("send-test")(authoring.send_test)
app.command("report")(report.report)


def main() -> None:
    """The `ladder` command: the Typer app, and a database without Ladder's tables or out of
    reach explained instead of a traceback."""
    try:
        app()
    except OperationalError as exc:
        if is_missing_table(exc):
            _missing_tables(exc)
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc)
        fail(
            f"cannot reach the database ({_shown(get_settings())}): {first}",
            hint="Is it running, and is DATABASE_URL right?",
        )
    except DatabaseError as exc:
        if not is_missing_table(exc):
            raise
        _missing_tables(exc)


def _missing_tables(exc: DatabaseError) -> NoReturn:  # noqa: ARG001  (kept for the callers' shape)
    fail(
        f"the database has no Ladder tables yet ({_shown(get_settings())})",
        hint="Run `ladder db upgrade` first.",
    )


def is_missing_table(exc: DatabaseError) -> bool:
    """SQLite's "no such table", PostgreSQL's undefined_table (42P01)."""
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "42P01"


def _shown(settings: Settings) -> str:
    """The database URL as it may be printed: without its password."""
    return make_url(settings.database_url).render_as_string(hide_password=True)
