"""What the studio has published over the files in git, as every process reads it.

A file's live version is the one its newest publication names; `generation` (the newest
publication's id) changes with every publish or rollback, so a process looks at one indexed
number to know whether to read the files again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from models.studio import FileKind
from models.tables import STUDIO_PUBLICATIONS, STUDIO_VERSIONS

GIT_VERSION = 1  # a file never edited in the studio is its version 1, as git has it


@dataclass(frozen=True)
class Published:
    """One kind's live files: the text and the version number of each published path."""

    bodies: Mapping[str, str] = field(default_factory=dict)
    numbers: Mapping[str, int] = field(default_factory=dict)

    def version_of(self, path: str) -> int:
        return self.numbers.get(path, GIT_VERSION)

    def over(self, drafts: Mapping[str, str]) -> Published:
        """These, with unpublished texts laid over them (a preview of drafts)."""
        return Published({**self.bodies, **drafts}, self.numbers)


NOTHING = Published()


def generation(db: Session) -> int:
    """0 until the first publish; then the newest publication's id."""
    return int(db.execute(select(func.max(STUDIO_PUBLICATIONS.c.id))).scalar() or 0)


def live(db: Session, kind: FileKind) -> Published:
    """Each path of `kind` whose newest publication names a version, with that version."""
    newer = aliased(STUDIO_PUBLICATIONS)
    newest = ~(
        select(newer.c.id)
        .where(
            newer.c.kind == STUDIO_PUBLICATIONS.c.kind,
            newer.c.path == STUDIO_PUBLICATIONS.c.path,
            newer.c.id > STUDIO_PUBLICATIONS.c.id,
        )
        .exists()
    )
    rows = db.execute(
        select(STUDIO_PUBLICATIONS.c.path, STUDIO_VERSIONS.c.number, STUDIO_VERSIONS.c.body)
        .join(STUDIO_VERSIONS, STUDIO_VERSIONS.c.id == STUDIO_PUBLICATIONS.c.version_id)
        .where(STUDIO_PUBLICATIONS.c.kind == kind.value, newest)
    ).all()
    return Published(
        bodies={path: body for path, _, body in rows},
        numbers={path: number for path, number, _ in rows},
    )
