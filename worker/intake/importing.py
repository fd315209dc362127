"""`ladder import`: canonical events read from a JSON-lines file, in batches.

Constant memory (one batch at a time), idempotent (duplicates are skipped on the unique key),
so an interrupted import resumes by running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from worker import hygiene
from worker.canonical import CanonicalEvent, IncomingEvent, describe_errors
from worker.intake.ingest import batched

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
        return IncomingEvent.model_validate(hygiene.loads(raw))
    except hygiene.NotJSON as exc:
        errors = [{"field": "(line)", "error": f"not JSON: {exc}"}]
    except ValidationError as exc:
        errors = describe_errors(exc)
    result.invalid_count += 1
    for error in errors:
        if len(result.invalid) < MAX_INVALID_KEPT:
            result.invalid.append((number, error["field"], error["error"]))
    return None


def read_batches(
    handle: Iterable[bytes],
    size: int,
    result: ImportResult,
    *,
    on_bytes: Callable[[int], object] | None = None,
) -> Iterator[list[CanonicalEvent]]:
    """The valid lines of `handle` as events, `size` at a time; invalid lines are counted in
    `result`, the first MAX_INVALID_KEPT with their reasons. `on_bytes(n)` after each line."""
    yield from batched(_events(handle, result, on_bytes), size)


def _events(
    handle: Iterable[bytes], result: ImportResult, on_bytes: Callable[[int], object] | None
) -> Iterator[CanonicalEvent]:
    for number, raw in enumerate(handle, start=1):
        result.lines = number
        if on_bytes is not None:
            on_bytes(len(raw))
        if not raw.strip():
            continue
        event = _parse(number, raw, result)
        if event is not None:
            yield event
