"""Deliveries (one email to one person) and suppressions (addresses never to mail)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class DeliveryStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for send_at: the durable timer
    SKIPPED = "skipped"  # matched, but a rule (cooldown) said no; reason says which
    HELD_OUT = "held_out"
    SUPPRESSED = "suppressed"  # no consent, or the address is suppressed
    CANCELLED = "cancelled"  # an `unless` event happened, or `when` no longer holds
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"
    FAILED = "failed"  # permanent error, reason in `reason`
    # What the provider reported after `sent` (worker/delivery/feedback.py keeps them in order).
    DEFERRED = "deferred"  # the receiving server said "later"; the provider keeps trying
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    DROPPED = "dropped"  # the provider would not send it (suppressed there, invalid …)


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        # The clock's scan for due and stale rows.
        Index("ix_deliveries_status_send_at", "status", "send_at"),
        # Cooldown and `unless` look-ups.
        Index("ix_deliveries_customer_trigger", "customer_id", "trigger", "status"),
        # The frequency budget: what a customer was sent lately.
        Index("ix_deliveries_customer_sent_at", "customer_id", "sent_at"),
        # A broadcast reaches a customer once per run, whoever resolves it and how often.
        Index("ux_deliveries_broadcast_customer", "broadcast_run_id", "customer_id", unique=True),
        # The studio's editor: what went out from a template file lately.
        Index("ix_deliveries_variant_id", "variant", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=255)  # "<trigger>:<cause event id>"
    trigger: str = Field(max_length=64)
    message: str = Field(max_length=64)
    variant: str | None = Field(default=None, max_length=255)  # the template actually used
    segment: str | None = Field(default=None, max_length=32)  # the customer's, when it was sent
    customer_id: int = Field(foreign_key="customers.id")
    cause_event_id: int = Field(foreign_key="events.id", index=True)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.SCHEDULED, sa_column=Column(String(16), nullable=False)
    )
    send_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # When it was first due, before quiet hours or the budget moved it: lateness counts from it.
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # marketing counts against the frequency budget and keeps quiet hours; transactional not.
    message_class: str = Field(
        default="marketing",
        sa_column=Column(String(16), nullable=False, server_default="marketing"),
    )
    priority: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    enqueued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Set, and committed, just before this claim's request to a provider that is not
    # idempotent: only then may the email have left. NULL: this claim sent nothing yet.
    requested_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0  # claims, whatever became of them: each claim's own number
    # Transient provider errors (5xx, timeouts, connection errors) so far: the retry back-off
    # grows with it, and at the limit the delivery is `failed` (`delivery/retries.py`).
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    provider_message_id: str | None = Field(default=None, max_length=255)
    # The trigger's attribution rule when it was scheduled (`measurement/attribution.py`):
    # `received` or `clicked` credits it with its customer's next orders within the window
    # (seconds from its sending), `none` never.
    attribution: str = Field(
        default="received",
        sa_column=Column(String(8), nullable=False, server_default="received"),
    )
    attribution_window_s: int = Field(
        default=432_000, sa_column=Column(Integer, nullable=False, server_default="432000")
    )
    reason: str | None = Field(default=None, sa_column=Column(Text))
    # A broadcast's delivery: its run, and the A/B variant the customer's hash fell in.
    broadcast_run_id: int | None = Field(default=None, foreign_key="broadcast_runs.id")
    ab_variant: str | None = Field(default=None, max_length=32)
    # The studio version of the variant file it was rendered from (1: the file as in git).
    template_version: int | None = None


class Suppression(SQLModel, table=True):
    __tablename__ = "suppressions"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)
    reason: str = Field(max_length=64)  # unsubscribed, bounced, spamreport, manual
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
