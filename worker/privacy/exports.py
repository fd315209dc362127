"""A customer's data request: everything held on them, as one JSON file only the owner reads."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from models import Customer
from worker.privacy.holdings import (
    attributions,
    deliveries,
    events_of,
    external_ids,
    identities,
    inbox_mentioning,
    ladder_moves,
    loyalty,
    membership,
    orders,
    record,
)


def export(
    db: Session,
    customer: Customer,
    *,
    source: str,
    reference: str | None,
    now: datetime,
    into: Path,
) -> Path:
    """Writes everything held on `customer` as JSON (mode 0600) and records that it was made."""
    document = {
        "produced_at": now.isoformat(),
        "customer": customer.model_dump(mode="json", warnings=False),
        "platform_ids": [
            row.model_dump(mode="json", warnings=False) for row in external_ids(db, customer)
        ],
        "orders": orders(db, customer),
        "loyalty": loyalty(db, customer),
        "membership": membership(db, customer),
        "events": [e.model_dump(mode="json", warnings=False) for e in events_of(db, customer)],
        "deliveries": [d.model_dump(mode="json", warnings=False) for d in deliveries(db, customer)],
        "attributions": [
            a.model_dump(mode="json", warnings=False) for a in attributions(db, customer)
        ],
        "ladder_moves": [
            m.model_dump(mode="json", warnings=False) for m in ladder_moves(db, customer)
        ],
        "webhooks": [
            {
                "id": row.id,
                "source": row.source,
                "topic": row.topic,
                "received_at": str(row.received_at),
                "body": row.body.decode("utf-8", "replace"),
            }
            for row, _ in inbox_mentioning(db, customer, identities(db, customer))
        ],
    }
    into.mkdir(parents=True, exist_ok=True)
    path = into / f"customer-{customer.id}-{now:%Y%m%dT%H%M%S}.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2, default=str)
    record(db, "export", source, customer.id, reference, now=now, path=str(path))
    return path
