"""The inbox: every verified webhook delivery, raw and durable, before it is normalised."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class InboxStatus(StrEnum):
    PENDING = "pending"  # stored, not yet normalised
    NORMALISED = "normalised"  # canonical events stored (possibly none)
    IGNORED = "ignored"  # a topic Ladder does not use; reason in `error`
    FAILED = "failed"  # could not be read; reason in `error`; `ladder inbox replay --failed`


class InboxItem(SQLModel, table=True):
    """One delivery as the platform sent it; deduplicated on (source, dedupe_key)."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "dedupe_key"),
        # The relay's scan for rows left waiting; replays by status and topic.
        Index("ix_inbox_status_enqueued", "status", "enqueued_at"),
        Index("ix_inbox_status_topic", "status", "topic"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    topic: str = Field(max_length=128)
    dedupe_key: str = Field(max_length=255)
    headers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # exactly as received
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: InboxStatus = Field(
        default=InboxStatus.PENDING, sa_column=Column(String(16), nullable=False)
    )
    enqueued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    normalised_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    events: int = 0  # canonical events this delivery gave
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))


class PrivacyRecord(SQLModel, table=True):
    """That a data export was produced or a customer forgotten: when, why, and where the file is.

    Holds no personal data itself, so it can outlive the customer it was about.
    """

    __tablename__ = "privacy_records"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "export", "forget", "shop_redact"
    source: str = Field(max_length=32)  # "shopify", "cli"
    customer_id: int | None = None  # no foreign key: the customer may be erased afterwards
    reference: str | None = Field(default=None, max_length=128)  # the platform's request id
    account: str | None = Field(default=None, max_length=255)  # the shop it came from
    path: str | None = Field(default=None, max_length=500)  # the export file
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
