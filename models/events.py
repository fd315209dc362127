"""Events: what happened, in the canonical shape, deduplicated on (source, source_event_id)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class EventStatus(StrEnum):
    PENDING = "pending"  # stored, not yet processed
    PROCESSED = "processed"
    FAILED = "failed"  # permanent error, reason in `error`; can be replayed after a fix


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "source_event_id"),
        # The relay's scan for events left waiting; `unless` look-ups per customer and type.
        Index("ix_events_status_enqueued", "status", "enqueued_at"),
        Index("ix_events_customer_type_time", "customer_id", "type", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    source_event_id: str = Field(max_length=255)
    type: str = Field(max_length=64)
    customer_id: int | None = Field(default=None, foreign_key="customers.id")
    order_id: int | None = Field(default=None, foreign_key="orders.id")  # the order it is about
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: EventStatus = Field(
        default=EventStatus.PENDING, sa_column=Column(String(16), nullable=False)
    )
    enqueued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
