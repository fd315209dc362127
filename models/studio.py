"""The studio's rows: the versions of templates, trigger, broadcast and series files edited in
the browser, each publication of one, and the audit log of what people did.

The files in git are each file's first version. A version is a draft until a publication names
it; the file's live version is the one its newest publication names (a rollback is one more
publication, of an older version), so `studio_publications` is also the history of publishing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class FileKind(StrEnum):
    TEMPLATE = "template"  # under templates/: `win_back/default.es.html.j2`, `layouts/base.html.j2`
    TRIGGER = "trigger"  # under triggers/: `win_back.toml`
    BROADCAST = "broadcast"  # in the broadcasts folder (`triggers/broadcasts/`): `whats_new.toml`
    SERIES = "series"  # in the series folder (`triggers/series/`): `coffee_tips.toml`


class StudioVersion(SQLModel, table=True):
    """One saved text of one file. Number 1 is the file as git had it when first edited."""

    __tablename__ = "studio_versions"
    __table_args__ = (UniqueConstraint("kind", "path", "number", name="uq_studio_versions_number"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: FileKind = Field(sa_column=Column(String(16), nullable=False))
    path: str = Field(max_length=255)  # relative to its folder, with forward slashes
    number: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    author: str = Field(max_length=320)  # the studio account's e-mail, or "git" for number 1
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    note: str | None = Field(default=None, max_length=500)
    # The checks' verdict when saved: a version with problems is kept as a draft, never published.
    problems: str | None = Field(default=None, sa_column=Column(Text))


class StudioPublication(SQLModel, table=True):
    """A version made live. The highest id per file is what every worker renders."""

    __tablename__ = "studio_publications"
    __table_args__ = (Index("ix_studio_publications_file", "kind", "path", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: FileKind = Field(sa_column=Column(String(16), nullable=False))
    path: str = Field(max_length=255)
    version_id: int = Field(foreign_key="studio_versions.id")
    number: int
    published_by: str = Field(max_length=320)
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StudioAudit(SQLModel, table=True):
    """What a person did that others must be able to find out: publishes, rollbacks, imports,
    accounts and roles given or taken away, logins refused."""

    __tablename__ = "studio_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=320)  # an account's e-mail, or "cli" / "git"
    action: str = Field(max_length=64)  # "publish", "rollback", "import", "role", …
    subject: str = Field(max_length=320)  # the file or the account acted on
    detail: str | None = Field(default=None, sa_column=Column(Text))
