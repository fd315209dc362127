"""Deliverability: provider events as received, mail preferences, and the sending pause flag."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class ProviderEvent(SQLModel, table=True):
    """One event a provider reported (delivered, bounce, open …), kept raw, deduplicated on the
    provider's own event id."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "provider_event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    provider_event_id: str = Field(max_length=255)
    type: str = Field(max_length=32)
    delivery_id: int | None = Field(default=None, index=True)  # None: not one of ours
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    applied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Preference(SQLModel, table=True):
    """A customer's choice for one message class; no row means the default (mail wanted)."""

    __tablename__ = "preferences"
    __table_args__ = (UniqueConstraint("customer_id", "message_class"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id")
    message_class: str = Field(max_length=16)  # marketing, transactional
    opted_out: bool
    source: str = Field(max_length=64)  # unsubscribe_link, preferences_page, sendgrid
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SendingPause(SQLModel, table=True):
    """Present while a provider refuses our credentials: nobody sends through it until
    `probe_at`, when the next delivery tries once more (or an operator resumes)."""

    __tablename__ = "sending_pauses"

    provider: str = Field(primary_key=True, max_length=32)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    paused_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    probe_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
