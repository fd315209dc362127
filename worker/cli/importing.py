"""`ladder import FILE`: canonical events from a JSON-lines file, with a progress bar."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from models.db import session
from worker import current_time
from worker.cli import history
from worker.cli.output import console, table
from worker.intake.importing import ImportResult, read_batches
from worker.queue import broker, clock, dispatch, leases
from worker.runtime import get_runtime
from worker.settings import get_settings

COLUMNS = ("lines", "stored", "duplicates", "invalid")


def import_events(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines file")],
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
) -> None:
    """Import canonical events, one JSON object per line. Idempotent: re-run to resume.

    With workers (REDIS_URL) they process the events; otherwise this command does, oldest
    first, then scores the segments, so the facts, segments and waits are right at the end."""
    result = import_file(path, batch_size=batch_size, console=console)
    done = table(f"Imported {path.name}", COLUMNS, right=COLUMNS)
    counts = (result.lines, result.stored, result.duplicates, result.invalid_count)
    done.add_row(*(str(n) for n in counts))
    console.print(done)
    if broker.has_consumer():
        with session(get_settings().database_url) as db:
            leases.request(db, clock.SEGMENTS_JOB, now=current_time.now())
        console.print(
            f"{result.stored:,} events handed to the workers; `ladder status` shows those "
            "still pending. Once they are processed, the clock scores the segments, and the "
            "waits of customers lapsing today are scheduled."
        )
    else:
        report = history.process_here(get_runtime(), console=console)
        console.print(report.describe(), highlight=False)
    if result.invalid:
        bad = table(
            "Invalid lines (first 20): fix them and import again", ("line", "field", "error")
        )
        for line, field, message in result.invalid[:20]:
            bad.add_row(str(line), field, message)
        console.print(bad)
        raise typer.Exit(1)


def import_file(path: Path, *, batch_size: int = 1000, console: Console) -> ImportResult:
    """Stores every valid line as an event and hands it to the workers; invalid lines are
    counted, the first of them kept with the reason."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[stored]} stored"),
        TimeRemainingColumn(),
    )
    result = ImportResult()
    with (
        Progress(*columns, console=console, transient=False) as progress,
        path.open("rb") as handle,
        session(get_settings().database_url) as db,
    ):
        task = progress.add_task(f"import {path.name}", total=path.stat().st_size, stored=0)
        advance = partial(progress.advance, task)
        for batch in read_batches(handle, batch_size, result, on_bytes=advance):
            outcome = dispatch.ingest(db, batch, now=current_time.now())
            result.stored += len(outcome.stored)
            result.duplicates += outcome.duplicates
            progress.update(task, stored=result.stored)
    return result
