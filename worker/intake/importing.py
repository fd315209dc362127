"""`ladder import`: canonical events from a JSON-lines file, streamed in batches.

Constant memory (one batch at a time), idempotent (duplicates are skipped on the unique key),
so an interrupted import resumes by running it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from models.db import session
from worker import current_time
from worker.intake.canonical import CanonicalEvent, describe_errors
from worker.intake.ingest import ingest
from worker.settings import get_settings

MAX_INVALID_KEPT = 1000


@dataclass
class ImportResult:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, error)
    invalid_count: int = 0


def _parse(number: int, raw: bytes, result: ImportResult) -> CanonicalEvent | None:
    try:
        return CanonicalEvent.model_validate(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        errors = [{"field": "(line)", "error": f"not JSON: {exc}"}]
    except ValidationError as exc:
        errors = describe_errors(exc)
    result.invalid_count += 1
    for error in errors:
        if len(result.invalid) < MAX_INVALID_KEPT:
            result.invalid.append((number, error["field"], error["error"]))
    return None


def _batches(
    handle: Iterator[bytes], size: int, result: ImportResult, progress: Progress, task: int
) -> Iterator[list[CanonicalEvent]]:
    batch: list[CanonicalEvent] = []
    for number, raw in enumerate(handle, start=1):
        result.lines = number
        progress.advance(task, len(raw))  # type: ignore[arg-type]
        if not raw.strip():
            continue
        event = _parse(number, raw, result)
        if event is not None:
            batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_file(
    path: Path, *, batch_size: int = 1000, console: Console | None = None
) -> ImportResult:
    """Stores every valid line as an event and enqueues it; invalid lines are reported."""
    result = ImportResult()
    settings = get_settings()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[stored]} stored"),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=console, transient=False) as progress,
        path.open("rb") as handle,
        session(settings.database_url) as db,
    ):
        task = progress.add_task(f"import {path.name}", total=path.stat().st_size, stored=0)
        for batch in _batches(handle, batch_size, result, progress, task):
            outcome = ingest(db, batch, now=current_time.now())
            result.stored += len(outcome.stored)
            result.duplicates += outcome.duplicates
            progress.update(task, stored=result.stored)
    return result
