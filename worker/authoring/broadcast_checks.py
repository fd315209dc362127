"""`ladder check` for broadcast and content series files: each one valid (file, line and
field), its audience sayable in SQL, and every message it sends present."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from triggers import TriggerError, line_of
from triggers.broadcast import Broadcast, load_broadcast, load_broadcasts
from triggers.series import Series, load_all_series, load_series
from worker.rendering.renderer import Renderer
from worker.rendering.variants import SUFFIX
from worker.scheduling.audience_sql import AudienceError, compile_audience
from worker.settings import Settings

F = TypeVar("F", Broadcast, Series)


def broadcast_problems(settings: Settings, renderer: Renderer) -> tuple[list[Broadcast], list[str]]:
    """(the broadcasts whose files are fine, one "file:line: field: problem" per mistake)."""
    return _folder_problems(
        settings.broadcasts_folder, load_broadcast, load_broadcasts, settings, renderer
    )


def series_problems(settings: Settings, renderer: Renderer) -> tuple[list[Series], list[str]]:
    """The same for the content series files."""
    return _folder_problems(
        settings.series_folder, load_series, load_all_series, settings, renderer
    )


def _folder_problems(
    folder: Path,
    load_one: Callable[[Path], F],
    load_all: Callable[[Path], list[F]],
    settings: Settings,
    renderer: Renderer,
) -> tuple[list[F], list[str]]:
    ok: list[F] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            found = load_one(path)
        except TriggerError as exc:
            problems.append(str(exc))
            continue
        mistakes = _problems_of(path, found, settings, renderer)
        problems.extend(mistakes)
        if not mistakes:
            ok.append(found)
    if not problems:
        try:  # names unique across files
            load_all(folder)
        except TriggerError as exc:
            problems.append(str(exc))
    return ok, problems


def _problems_of(
    path: Path, found: Broadcast | Series, settings: Settings, renderer: Renderer
) -> list[str]:
    text = path.read_text(encoding="utf-8")
    problems = []
    try:
        now = datetime.now(UTC)
        compile_audience(renderer.env, found.audience, now=now, currency=settings.default_currency)
    except AudienceError as exc:
        where = TriggerError(path, str(exc), line=line_of(text, "audience"), field="audience")
        problems.append(str(where))
    known = set(renderer.messages())
    for message in found.messages():
        if message in known:
            continue
        if isinstance(found, Series):
            field, line = "steps", _line_holding(text, f'"{message}"') or line_of(text, "steps")
        elif message == found.message:
            field, line = "message", line_of(text, "message")
        else:
            field = "variants.message"
            line = _line_holding(text, f'"{message}"') or line_of(text, "message")
        missing = f"{message!r} has no templates/{message}/default{SUFFIX}"
        problems.append(str(TriggerError(path, missing, line=line, field=field)))
    return problems


def _line_holding(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None
