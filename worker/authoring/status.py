"""What `ladder status` shows: rows by state, and what is stuck and for how long."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from models import (
    Delivery,
    DeliveryStatus,
    Event,
    EventStatus,
    InboxItem,
    InboxStatus,
    Lease,
    ProviderEvent,
)
from triggers import CONDITION_FAILED
from worker.delivery import pauses
from worker.settings import Settings


def counts_by_status(db: Session, model: Any) -> dict[str, int]:
    rows = db.execute(select(model.status, func.count()).group_by(model.status)).all()
    return {str(status): int(count) for status, count in sorted(rows)}


def stuck(db: Session, *, now: datetime, settings: Settings) -> dict[str, dict[str, Any]]:
    """Rows waiting longer than the relay or claim timeout allows: the clock should have moved
    them. Non-zero counts here mean no clock is running, or the broker is unreachable."""
    requeue = now - timedelta(seconds=settings.requeue_after_s)
    claim = now - timedelta(seconds=settings.claim_timeout)
    checks = {
        "webhooks not normalised": select(func.count(), func.min(InboxItem.received_at)).where(
            col(InboxItem.status) == InboxStatus.PENDING, col(InboxItem.received_at) < requeue
        ),
        "events pending": select(func.count(), func.min(Event.received_at)).where(
            col(Event.status) == EventStatus.PENDING, col(Event.received_at) < requeue
        ),
        "deliveries overdue": select(func.count(), func.min(Delivery.send_at)).where(
            col(Delivery.status) == DeliveryStatus.SCHEDULED, col(Delivery.send_at) < requeue
        ),
        "deliveries sending": select(func.count(), func.min(Delivery.claimed_at)).where(
            col(Delivery.status) == DeliveryStatus.SENDING, col(Delivery.claimed_at) < claim
        ),
        # Applied as they arrive; one left over failed (`ladder sending replay-events`).
        "provider events unapplied": select(
            func.count(), func.min(ProviderEvent.received_at)
        ).where(col(ProviderEvent.applied_at).is_(None)),
    }
    report = {}
    for name, query in checks.items():
        count, oldest = db.execute(query).one()
        report[name] = {"count": int(count), "oldest": oldest.isoformat() if oldest else None}
    return report


def status_report(db: Session, *, now: datetime, settings: Settings) -> dict[str, Any]:
    return {
        "inbox": counts_by_status(db, InboxItem),
        "events": counts_by_status(db, Event),
        "deliveries": counts_by_status(db, Delivery),
        "stuck": stuck(db, now=now, settings=settings),
        "sending_paused": [
            {
                "provider": pause.provider,
                "reason": pause.reason,
                "since": pause.paused_at.isoformat(),
                "probe_at": pause.probe_at.isoformat(),
            }
            for pause in pauses.all_pauses(db)
        ],
        "failed_recently": [
            {"table": table, "id": row_id, "reason": reason}
            for table, model, field in (
                ("inbox", InboxItem, InboxItem.error),
                ("events", Event, Event.error),
                ("deliveries", Delivery, Delivery.reason),
            )
            for row_id, reason in db.execute(
                select(col(model.id), col(field))
                .where(col(model.status) == "failed")
                .order_by(col(model.id).desc())
                .limit(5)
            )
        ],
        "inbox_unused": inbox_unused(db),
        "conditions_failed": conditions_failed(db),
        "jobs_asked_for": jobs_asked_for(db),
    }


def jobs_asked_for(db: Session) -> list[dict[str, Any]]:
    """Periodic jobs asked for ahead of their time (`ladder import` asks for the segment
    refresh), each with the events received before the request that it waits for."""
    asked = db.execute(
        select(col(Lease.name), col(Lease.requested_at))
        .where(col(Lease.requested_at).is_not(None))
        .order_by(col(Lease.name))
    ).all()
    return [
        {
            "job": name,
            "asked_at": requested_at.isoformat(),
            "waiting_for_events": int(
                db.scalar(
                    select(func.count()).where(
                        col(Event.status) == EventStatus.PENDING,
                        col(Event.received_at) <= requested_at,
                    )
                )
                or 0
            ),
        }
        for name, requested_at in asked
    ]


def conditions_failed(db: Session) -> list[dict[str, Any]]:
    """Deliveries failed because a trigger's condition could not be evaluated (a name its
    context lacks, a type mismatch), by trigger and reason: fix the file, `ladder check`."""
    count = func.count().label("rows")
    query = (
        select(col(Delivery.trigger), col(Delivery.reason), count)
        .where(
            col(Delivery.status) == DeliveryStatus.FAILED,
            col(Delivery.reason).contains(CONDITION_FAILED, autoescape=True),
        )
        .group_by(col(Delivery.trigger), col(Delivery.reason))
        .order_by(count.desc(), col(Delivery.trigger))
        .limit(20)
    )
    return [
        {"trigger": trigger, "reason": reason, "count": rows}
        for trigger, reason, rows in db.execute(query)
    ]


def inbox_unused(db: Session) -> list[dict[str, Any]]:
    """Webhook deliveries kept but not turned into events, by source, topic, state and reason:
    what `ladder inbox replay` would re-run after a fix."""
    count = func.count().label("rows")
    query = (
        select(
            col(InboxItem.source),
            col(InboxItem.topic),
            col(InboxItem.status),
            col(InboxItem.error),
            count,
        )
        .where(col(InboxItem.status).in_([InboxStatus.FAILED, InboxStatus.IGNORED]))
        .group_by(
            col(InboxItem.source), col(InboxItem.topic), col(InboxItem.status), col(InboxItem.error)
        )
        .order_by(count.desc())
        .limit(20)
    )
    return [
        {"source": source, "topic": topic, "status": status, "reason": reason, "count": rows}
        for source, topic, status, reason, rows in db.execute(query)
    ]
