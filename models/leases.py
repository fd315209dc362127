"""Leases: a named lock with an expiry, so one clock leads and a second one idles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class Lease(SQLModel, table=True):
    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str | None = Field(default=None, max_length=128)
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # When a daily job named by this lease last ran (e.g. the segment refresh).
    last_run_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # A run asked for ahead of its time (`ladder import` asks for the segment refresh that must
    # follow its events); cleared by the run that starts after it.
    requested_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
