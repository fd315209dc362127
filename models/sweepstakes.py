"""Sweepstakes: one entry row per qualifying action of a customer, and one draw row per
sweepstake, with the seed and the winners anyone can reproduce from the entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class SweepstakeEntry(SQLModel, table=True):
    """Entries a customer's action gave. `cause` is unique (`<sweepstake>:<event id>`): the
    same event told twice enters once."""

    __tablename__ = "loyalty_sweepstake_entries"

    id: int | None = Field(default=None, primary_key=True)
    sweepstake: str = Field(max_length=64, index=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    cause: str = Field(max_length=300, unique=True)
    tickets: int = 1  # the entries this action is worth (the file's `entries`)
    entered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SweepstakeDraw(SQLModel, table=True):
    """A sweepstake's draw, once (`sweepstake` is unique): its seed, how many entries it drew
    from, and the winning entries' causes in the order drawn."""

    __tablename__ = "loyalty_sweepstake_draws"

    id: int | None = Field(default=None, primary_key=True)
    sweepstake: str = Field(max_length=64, unique=True)
    draw_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    drawn_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    seed: str = Field(max_length=64)
    entries: int = 0
    winners: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
