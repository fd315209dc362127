"""`ladder check` for broadcast files: each one valid (file, line and field), its audience
sayable in SQL, and every message it or its variants send present."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from triggers import TriggerError, line_of
from triggers.broadcast import Broadcast, load_broadcast, load_broadcasts
from worker.rendering.renderer import Renderer
from worker.rendering.variants import SUFFIX
from worker.scheduling.audience_sql import AudienceError, compile_audience
from worker.settings import Settings


def broadcast_problems(settings: Settings, renderer: Renderer) -> tuple[list[Broadcast], list[str]]:
    """(the broadcasts whose files are fine, one "file:line: field: problem" per mistake)."""
    folder = settings.broadcasts_folder
    ok: list[Broadcast] = []
    problems: list[str] = []
    paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    for path in paths:
        try:
            broadcast = load_broadcast(path)
        except TriggerError as exc:
            problems.append(str(exc))
            continue
        found = _problems_of(path, broadcast, settings, renderer)
        problems.extend(found)
        if not found:
            ok.append(broadcast)
    if not problems:
        try:  # names unique across files
            load_broadcasts(folder)
        except TriggerError as exc:
            problems.append(str(exc))
    return ok, problems


def _problems_of(
    path: Path, broadcast: Broadcast, settings: Settings, renderer: Renderer
) -> list[str]:
    text = path.read_text(encoding="utf-8")
    problems = []
    try:
        now = datetime.now(UTC)
        compile_audience(
            renderer.env, broadcast.audience, now=now, currency=settings.default_currency
        )
    except AudienceError as exc:
        problems.append(
            str(TriggerError(path, str(exc), line=line_of(text, "audience"), field="audience"))
        )
    known = set(renderer.messages())
    for message in broadcast.messages():
        if message not in known:
            field = "message" if message == broadcast.message else "variants.message"
            line = line_of(text, "message")
            if field != "message":
                line = _line_holding(text, f'"{message}"') or line
            problems.append(
                str(
                    TriggerError(
                        path,
                        f"{message!r} has no templates/{message}/default{SUFFIX}",
                        line=line,
                        field=field,
                    )
                )
            )
    return problems


def _line_holding(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None
