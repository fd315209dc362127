"""Versions of the templates, trigger, broadcast and series files: drafts saved, published,
rolled back, compared, written back to the files for git and read from them.

The files in git are each file's version 1; the first save in the studio records that text as
version 1 (by "git") before the draft, so every later version has something to be compared with
and a rollback to the original is one more publication. A version with problems stays a draft.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import func, insert, select
from sqlmodel import Session

from models.studio import FileKind
from models.tables import STUDIO_PUBLICATIONS, STUDIO_VERSIONS
from worker.rendering.published import GIT_VERSION, live
from worker.settings import Settings
from worker.studio import audit

MAX_BODY_CHARS = 200_000  # a template is a few kilobytes; Gmail clips an email at 102 KB
GIT = "git"  # the author of each file's version 1
SUFFIXES = {
    FileKind.TEMPLATE: (".html.j2", ".j2", ".css"),
    FileKind.TRIGGER: (".toml",),
    FileKind.BROADCAST: (".toml",),
    FileKind.SERIES: (".toml",),
}
# Files of these kinds lie in their folder itself: the loaders read `*.toml` there, no deeper.
FLAT = (FileKind.TRIGGER, FileKind.BROADCAST, FileKind.SERIES)


class VersionError(Exception):
    """What the person asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Version:
    number: int
    author: str
    created_at: datetime
    note: str | None
    problems: tuple[str, ...]  # as `ladder check` prints them: "file:line: message"
    published_at: datetime | None  # its newest publication, if any
    live: bool  # what every worker renders now


def folder(settings: Settings, kind: FileKind) -> Path:
    return {
        FileKind.TEMPLATE: settings.templates_dir,
        FileKind.TRIGGER: settings.triggers_dir,
        FileKind.BROADCAST: settings.broadcasts_folder,
        FileKind.SERIES: settings.series_folder,
    }[kind]


def clean_path(kind: FileKind, path: str) -> str:
    """The path as stored (forward slashes, relative to its folder), or VersionError for one
    that would leave the folder or is not a file of its kind."""
    pure = PurePosixPath(path.strip().replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or len(str(pure)) > 255:
        raise VersionError(f"{path!r} is not a file in the {kind.value}s folder")
    if not str(pure).endswith(SUFFIXES[kind]):
        suffixes = ", ".join(SUFFIXES[kind])
        raise VersionError(f"{path!r}: a {kind.value} file's name ends in {suffixes}")
    if kind in FLAT and len(pure.parts) != 1:
        raise VersionError(f"{path!r}: {kind.value} files lie in their folder itself")
    return str(pure)


def git_text(settings: Settings, kind: FileKind, path: str) -> str | None:
    """The file as the checkout has it, or None when it has no such file."""
    file = folder(settings, kind) / path
    return file.read_text(encoding="utf-8") if file.is_file() else None


def versions(db: Session, kind: FileKind, path: str) -> list[Version]:
    """Every saved version of the file, newest first (empty: only git's)."""
    published = (
        select(
            STUDIO_PUBLICATIONS.c.version_id,
            func.max(STUDIO_PUBLICATIONS.c.published_at).label("at"),
        )
        .where(STUDIO_PUBLICATIONS.c.kind == kind.value, STUDIO_PUBLICATIONS.c.path == path)
        .group_by(STUDIO_PUBLICATIONS.c.version_id)
        .subquery()
    )
    v = STUDIO_VERSIONS.c
    rows = db.execute(
        select(v.number, v.author, v.created_at, v.note, v.problems, published.c.at)
        .outerjoin(published, published.c.version_id == v.id)
        .where(v.kind == kind.value, v.path == path)
        .order_by(v.number.desc())
    ).all()
    current = live_number(db, kind, path)
    return [
        Version(
            number=number,
            author=author,
            created_at=created_at,
            note=note,
            problems=tuple(problems.splitlines()) if problems else (),
            published_at=at,
            live=number == current or (current == 0 and author == GIT),
        )
        for number, author, created_at, note, problems, at in rows
    ]


def newest_numbers(db: Session, kind: FileKind) -> dict[str, int]:
    """Each path of `kind` the studio has a version of, with its newest version's number."""
    v = STUDIO_VERSIONS.c
    rows = db.execute(
        select(v.path, func.max(v.number)).where(v.kind == kind.value).group_by(v.path)
    )
    return {str(path): int(number) for path, number in rows}


def checkout_files(settings: Settings, kind: FileKind) -> list[str]:
    """The paths of `kind` in the checkout (trigger, broadcast and series files lie in their
    folder itself)."""
    root = folder(settings, kind)
    pattern = "*.toml" if kind in FLAT else "**/*"
    return sorted(
        file.relative_to(root).as_posix()
        for file in root.glob(pattern)
        if file.is_file() and file.name.endswith(SUFFIXES[kind])
    )


def live_number(db: Session, kind: FileKind, path: str) -> int:
    """The version its newest publication names; 0 when none: the workers render the file in
    git (version 1), or nothing for a file only the studio has."""
    number = db.execute(
        select(STUDIO_PUBLICATIONS.c.number)
        .where(STUDIO_PUBLICATIONS.c.kind == kind.value, STUDIO_PUBLICATIONS.c.path == path)
        .order_by(STUDIO_PUBLICATIONS.c.id.desc())
        .limit(1)
    ).scalar()
    return int(number) if number is not None else 0


def text_of(db: Session, settings: Settings, kind: FileKind, path: str, number: int) -> str:
    """One version's text; version 1 before any save is the file in git."""
    body = db.execute(
        select(STUDIO_VERSIONS.c.body).where(
            STUDIO_VERSIONS.c.kind == kind.value,
            STUDIO_VERSIONS.c.path == path,
            STUDIO_VERSIONS.c.number == number,
        )
    ).scalar()
    if body is None and number == GIT_VERSION:
        body = git_text(settings, kind, path)
    if body is None:
        raise VersionError(f"{path} has no version {number}")
    return str(body)


def save(
    db: Session,
    settings: Settings,
    kind: FileKind,
    path: str,
    body: str,
    *,
    author: str,
    now: datetime,
    problems: list[str],
    note: str | None = None,
) -> int:
    """Stores `body` as the file's next version, a draft, with what the checks found; returns
    its number. The caller commits."""
    if len(body) > MAX_BODY_CHARS:
        raise VersionError(f"{path} is {len(body):,} characters; at most {MAX_BODY_CHARS:,}")
    newest = _newest_number(db, kind, path)
    if newest == 0:
        original = git_text(settings, kind, path)
        if original is not None:  # the file as git has it becomes version 1
            _insert(db, kind, path, GIT_VERSION, original, author=GIT, now=now, problems=[])
            newest = GIT_VERSION
    number = newest + 1
    _insert(db, kind, path, number, body, author=author, now=now, problems=problems, note=note)
    return number


def publish(db: Session, kind: FileKind, path: str, number: int, *, by: str, now: datetime) -> None:
    """Makes a version live for every worker (an older one: a rollback). The caller commits.
    Version 1 of a file never saved is git's: it is live already."""
    row = db.execute(
        select(STUDIO_VERSIONS.c.id, STUDIO_VERSIONS.c.problems, STUDIO_VERSIONS.c.author).where(
            STUDIO_VERSIONS.c.kind == kind.value,
            STUDIO_VERSIONS.c.path == path,
            STUDIO_VERSIONS.c.number == number,
        )
    ).first()
    if row is None:
        raise VersionError(f"{path} has no version {number} to publish")
    version_id, problems, author = row
    if problems:
        first = problems.splitlines()[0]
        raise VersionError(f"version {number} of {path} has problems ({first}): fix and save")
    current = live_number(db, kind, path)
    if number == current or (current == 0 and author == GIT):
        raise VersionError(f"version {number} of {path} is live already")
    db.execute(
        insert(STUDIO_PUBLICATIONS).values(
            kind=kind.value,
            path=path,
            version_id=version_id,
            number=number,
            published_by=by,
            published_at=now,
        )
    )
    was = current or (GIT_VERSION if _has_git(db, kind, path) else 0)
    action = "rollback" if number < was else "publish"
    detail = f"version {number} (was {was or 'a new file'})"
    subject = f"{kind.value}:{path}"
    audit.record(db, actor=by, action=action, subject=subject, now=now, detail=detail)


def diff(db: Session, settings: Settings, kind: FileKind, path: str, number: int) -> str:
    """What version `number` changed from the one before it, as a unified diff."""
    after = text_of(db, settings, kind, path, number)
    before = text_of(db, settings, kind, path, number - 1) if number > GIT_VERSION else ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path} v{number - 1}" if number > GIT_VERSION else "/dev/null",
        tofile=f"{path} v{number}",
    )
    return "".join(lines)


def export(db: Session, settings: Settings) -> list[tuple[FileKind, str, int]]:
    """Writes each published version over its file, for git: what was written."""
    written = []
    for kind in FileKind:
        found = live(db, kind)
        for path, body in sorted(found.bodies.items()):
            file = folder(settings, kind) / path
            if file.is_file() and file.read_text(encoding="utf-8") == body:
                continue
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(body, encoding="utf-8")
            written.append((kind, path, found.version_of(path)))
    return written


def differing_files(db: Session, settings: Settings) -> list[tuple[FileKind, str, str]]:
    """Files in the checkout whose text is not their live version's (changed in git since),
    with that text: what `ladder templates import` loads."""
    found = []
    for kind in FileKind:
        published = live(db, kind)
        for path in checkout_files(settings, kind):
            if path not in published.bodies:
                continue  # never published: live from git already
            text = (folder(settings, kind) / path).read_text(encoding="utf-8")
            if published.bodies[path] != text:
                found.append((kind, path, text))
    return found


def _has_git(db: Session, kind: FileKind, path: str) -> bool:
    """Whether the file's version 1 is git's (saved from the checkout at the first edit)."""
    author = db.execute(
        select(STUDIO_VERSIONS.c.author).where(
            STUDIO_VERSIONS.c.kind == kind.value,
            STUDIO_VERSIONS.c.path == path,
            STUDIO_VERSIONS.c.number == GIT_VERSION,
        )
    ).scalar()
    return author == GIT


def _newest_number(db: Session, kind: FileKind, path: str) -> int:
    newest = db.execute(
        select(func.max(STUDIO_VERSIONS.c.number)).where(
            STUDIO_VERSIONS.c.kind == kind.value, STUDIO_VERSIONS.c.path == path
        )
    ).scalar()
    return int(newest or 0)


def _insert(
    db: Session,
    kind: FileKind,
    path: str,
    number: int,
    body: str,
    *,
    author: str,
    now: datetime,
    problems: list[str],
    note: str | None = None,
) -> None:
    db.execute(
        insert(STUDIO_VERSIONS).values(
            kind=kind.value,
            path=path,
            number=number,
            body=body,
            author=author,
            created_at=now,
            note=note,
            problems="\n".join(problems) or None,
        )
    )
