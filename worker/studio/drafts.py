"""A draft checked as `ladder check` checks the files: laid over what is live (the files and
the studio's publications) in a scratch copy of the folders (templates, triggers, broadcasts,
series), then the same checks run there.

What counts against a draft is what it brings: a problem the live files have already (a goal
naming a trigger the shop removed) is not this draft's to fix, and does not hold it back.

Only the messages a draft can change are rendered (its own message; the messages a trigger,
broadcast or series sends), so saving one variant takes about a second; a layout, partial or
the stylesheet is shared by every message, and its draft renders them all, as `ladder check`
does.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

from sqlmodel import Session

from models.studio import FileKind
from triggers import Trigger, TriggerError, load_trigger
from triggers.broadcast import Broadcast, load_broadcast
from triggers.series import Series, load_series
from worker.authoring.checks import run_checks
from worker.rendering.published import live
from worker.settings import Settings
from worker.studio import versions

_SHARED = ("layouts/", "partials/")


def check(
    db: Session,
    settings: Settings,
    kind: FileKind,
    path: str,
    body: str,
    *,
    drafts: Mapping[str, str] | None = None,
) -> list[str]:
    """What `ladder check` says with `body` as the live text of `path` that it does not say
    of the live files: one line each, "file:line: message", paths relative to their folder.
    `drafts`: more unpublished template texts to lay over (none by default).

    The checks take a second or more: the transaction of the read ends before they start (on
    SQLite it would hold the database's one writer lock meanwhile)."""
    texts = {each: dict(live(db, each).bodies) for each in FileKind}
    texts[FileKind.TEMPLATE].update(drafts or {})
    db.commit()
    with tempfile.TemporaryDirectory(prefix="ladder-draft-") as scratch:
        root = Path(scratch)
        folders = {
            each: _copy(versions.folder(settings, each), root / each.value, texts[each])
            for each in FileKind
        }
        copy = settings.model_copy(
            update={
                "templates_dir": folders[FileKind.TEMPLATE],
                "triggers_dir": folders[FileKind.TRIGGER],
                "broadcasts_dir": folders[FileKind.BROADCAST],
                "series_dir": folders[FileKind.SERIES],
            }
        )
        file = folders[kind] / path
        existed = file.is_file()  # a new file has nothing to compare with: all is its own
        only = _messages(kind, path, body, folders[kind])
        if existed and only is not None:  # what the file sent before counts too
            earlier = _messages(kind, path, file.read_text(encoding="utf-8"), folders[kind])
            only = None if earlier is None else only | earlier
        before = set(_problems(copy, only, folders.values())) if existed else set()
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(body, encoding="utf-8")
        return [p for p in _problems(copy, only, folders.values()) if p not in before]


def _problems(settings: Settings, only: set[str] | None, folders: Iterable[Path]) -> list[str]:
    """What `ladder check` finds in the scratch copy, each file named relative to its folder."""
    report = run_checks(settings, only=only)
    found = []
    for problem in report.problems:
        for folder in folders:
            problem = problem.replace(f"{folder}/", "")
        found.append(problem)
    return found


def lines_of(problems: Collection[str], path: str) -> dict[int, list[str]]:
    """The problems that name a line of `path`, by line: what the editor marks."""
    where = re.compile(rf"(?:^|\s){re.escape(path)}:(\d+): ?(.*)")
    found: dict[int, list[str]] = {}
    for problem in problems:
        match = where.search(problem)
        if match:
            found.setdefault(int(match[1]), []).append(match[2] or problem)
    return found


def message_of(kind: FileKind, path: str) -> str | None:
    """The message a template variant belongs to (`win_back`), None for shared files."""
    if kind is not FileKind.TEMPLATE or path.startswith(_SHARED) or "/" not in path:
        return None
    return path.split("/")[0]


def _messages(kind: FileKind, path: str, body: str, folder: Path) -> set[str] | None:
    """What to render for this draft; None: every message."""
    if kind is FileKind.TEMPLATE:
        message = message_of(kind, path)
        return None if message is None else {message}
    load = _LOADERS[kind]
    try:
        return set(load(folder / path, body).messages())
    except TriggerError:
        return set()  # the file's own problem is reported; nothing to render


def _trigger(path: Path, text: str) -> Trigger:
    return load_trigger(path, None, text)


_LOADERS: dict[FileKind, Callable[[Path, str], Trigger | Broadcast | Series]] = {
    FileKind.TRIGGER: _trigger,
    FileKind.BROADCAST: load_broadcast,
    FileKind.SERIES: load_series,
}


def _copy(source: Path, target: Path, overlay: Mapping[str, str]) -> Path:
    """`source` copied to `target`, with `overlay`'s texts written over it."""
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.mkdir(parents=True)
    for path, text in overlay.items():
        file = target / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return target
