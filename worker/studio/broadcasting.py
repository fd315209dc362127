"""The broadcasts and content series as the studio shows them, and a broadcast's run
scheduled or cancelled from it: what `ladder broadcast schedule|cancel` do, each with its
audit line committed with the change.

A file is shown as the clock reads it: its live version (the studio's newest publication, else
the file in git), each file on its own, so one that does not load is listed with its problem
beside the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Generic, TypeVar

from sqlmodel import Session

from models.studio import FileKind
from triggers import TriggerError
from triggers.broadcast import Broadcast, load_broadcast
from triggers.series import Series, load_series
from worker.rendering.published import live
from worker.scheduling import broadcasts
from worker.settings import Settings
from worker.studio import audit, versions

F = TypeVar("F", Broadcast, Series)
_NAME_LINE = re.compile(r'^(\s*name\s*=\s*)"[^"\n]*"', re.MULTILINE)


@dataclass(frozen=True)
class LiveFile(Generic[F]):
    """One broadcast or series file as the clock reads it: loaded, or why it does not load."""

    path: str  # relative to its folder, as the editor names it
    found: F | None
    problem: str = ""


def live_broadcasts(db: Session, settings: Settings) -> list[LiveFile[Broadcast]]:
    """Every broadcast file, by file name, disabled ones too."""
    return _live_files(db, settings, FileKind.BROADCAST, load_broadcast)


def live_series(db: Session, settings: Settings) -> list[LiveFile[Series]]:
    """Every content series file, by file name, disabled ones too."""
    return _live_files(db, settings, FileKind.SERIES, load_series)


def _live_files(
    db: Session, settings: Settings, kind: FileKind, load: Callable[[Path, str | None], F]
) -> list[LiveFile[F]]:
    published = live(db, kind).bodies
    db.commit()  # a read: end its transaction
    folder = versions.folder(settings, kind)
    found = []
    for path in sorted(set(versions.checkout_files(settings, kind)) | set(published)):
        try:
            found.append(LiveFile(path, load(folder / path, published.get(path))))
        except TriggerError as exc:
            found.append(LiveFile(path, None, str(exc).replace(f"{folder}/", "")))
    return found


def schedule(
    db: Session,
    broadcast: Broadcast,
    *,
    settings: Settings,
    by: str,
    now: datetime,
    day: date | None = None,
) -> int:
    """Schedules the run of `day` (else the next date) as `ladder broadcast schedule` does,
    with an audit line in the same commit; returns the run's id. Raises ScheduleError (and
    nothing is recorded)."""
    when = day or broadcast.occurrence(now.date())
    audit.record(
        db, actor=by, action="schedule", subject=f"broadcast:{broadcast.name}", now=now,
        detail=f"the run of {when}" if when else None,
    )  # fmt: skip
    try:
        return broadcasts.schedule(db, broadcast, now=now, settings=settings, day=day)
    except broadcasts.ScheduleError:
        db.rollback()  # the audit line with it
        raise


def cancel(db: Session, name: str, *, by: str, now: datetime) -> tuple[int, int]:
    """Cancels what waits of the broadcast as `ladder broadcast cancel` does, with an audit
    line in the same commit; (runs, deliveries) cancelled. Nothing waiting: nothing recorded."""
    runs, deliveries = broadcasts.cancel_waiting(db, name, now=now)
    if runs or deliveries:
        detail = f"{runs} run(s), {deliveries} delivery(ies) not yet sent"
        audit.record(
            db, actor=by, action="cancel", subject=f"broadcast:{name}", now=now, detail=detail
        )
    db.commit()
    return runs, deliveries


def renamed(text: str, path: str) -> str:
    """A copy's text, its `name = "…"` naming it after its new file (`spring_sale.toml`:
    `spring_sale`), so the copy does not clash with the file it came from."""
    stem = PurePosixPath(path).name.removesuffix(".toml")
    return _NAME_LINE.sub(lambda match: f'{match[1]}"{stem}"', text, count=1)
