"""What a customer sees of their loyalty outside an email (their page, the shop's widget): the
`loyalty` of templates and their latest ledger entries, and the same as a JSON document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from models import EntryKind
from models.tables import LOYALTY_ENTRIES
from triggers.programme import Programme
from worker.loyalty.views import loyalty_view

E = LOYALTY_ENTRIES.c
HISTORY_ENTRIES = 20  # the latest entries shown: a page and a widget, not the whole statement


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    points: int
    pending: int


@dataclass(frozen=True)
class Summary:
    customer_id: int
    currency: str
    view: dict[str, Any]  # `loyalty` as templates see it (worker/loyalty/views.py)
    history: list[Entry]  # newest first, at most HISTORY_ENTRIES


def summary_of(
    db: Session, programme: Programme, customer_id: int, *, currency: str, now: datetime
) -> Summary:
    view = loyalty_view(db, programme, customer_id, currency=currency, now=now)
    query = (
        select(E.created_at, E.kind, E.points, E.pending)
        # An action's earn refused over its limit moved nothing: the statement shows it, not this.
        .where(E.customer_id == customer_id, E.kind != EntryKind.REFUSED.value)
        .order_by(E.id.desc())
        .limit(HISTORY_ENTRIES)
    )
    rows = db.execute(query)
    history = [Entry(row.created_at, row.kind, row.points, row.pending) for row in rows]
    return Summary(customer_id, currency, view, history)


def summary_document(summary: Summary) -> dict[str, Any]:
    """JSON-ready: amounts as decimal strings (never floats), times in ISO 8601."""
    view = summary.view
    return {
        "customer_id": summary.customer_id,
        "currency": summary.currency,
        "points": view["points"],
        "pending": view["pending"],
        "tier": view["tier"],
        "multiplier": _decimal(view["multiplier"]),
        "tiers_by": view["tiers_by"],  # `to_next_tier` is in `currency` for "spend", else points
        "next_tier": view["next_tier"],
        "to_next_tier": _decimal(view["to_next_tier"]),
        "progress": view["progress"],
        "rewards": [
            {
                **reward,
                "value": _decimal(reward["value"]),
                "expires_at": reward["expires_at"].isoformat() if reward["expires_at"] else None,
            }
            for reward in view["rewards"]
        ],
        "membership": _membership(view["membership"]),
        "history": [
            {"at": e.at.isoformat(), "kind": e.kind, "points": e.points, "pending": e.pending}
            for e in summary.history
        ],
    }


def _membership(membership: dict[str, Any] | None) -> dict[str, Any] | None:
    if membership is None:
        return None
    until = membership["active_until"]
    return {
        **membership,
        "active_until": until.isoformat() if until else None,
        "multiplier": _decimal(membership["multiplier"]),
    }


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
