"""Broadcast runs: one row per broadcast and date it goes out, taken by the clock when due and
resolved into its deliveries in one transaction (`worker/scheduling/broadcasts.py`)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class RunStatus(StrEnum):
    SCHEDULED = "scheduled"  # `ladder broadcast schedule`: waiting for resolve_at
    # A test-then-winner's test share has its deliveries; the rest wait for `winner_at`.
    TESTING = "testing"
    RESOLVED = "resolved"  # its deliveries exist, one per customer of the audience
    CANCELLED = "cancelled"  # `ladder broadcast cancel`, before or after it was resolved


class BroadcastRun(SQLModel, table=True):
    __tablename__ = "broadcast_runs"
    __table_args__ = (
        # One run per broadcast and date: scheduling it twice, or two clocks, make one.
        UniqueConstraint("broadcast", "occurs_on"),
        Index("ix_broadcast_runs_status_resolve_at", "status", "resolve_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast: str = Field(max_length=64)
    occurs_on: date
    status: RunStatus = Field(
        default=RunStatus.SCHEDULED, sa_column=Column(String(16), nullable=False)
    )
    # When the clock resolves it: just before the first customer's send time (the zone ahead
    # of all others, for a local time of day).
    resolve_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # A test-then-winner: when the clock compares the variants and sends the rest the winner,
    # which won, and each variant's score in words.
    winner_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    winner: str | None = Field(default=None, max_length=64)
    winner_note: str | None = Field(default=None, max_length=500)
    reached: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
