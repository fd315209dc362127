"""The spool: deliveries accepted while the database was away, on local disk until it is back.

WooCommerce never retries and Shopify gives up after 8 tries, so a failed commit must not lose a
delivery: it is written here (one file each, fsync'd, renamed into place) and answered 200; the
clock moves the files into the inbox once the database answers again. The spool folder must be
on the machine (or volume) where both `web` and `clock` run.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlmodel import Session

from models import InboxStatus
from models.tables import INBOX
from worker.intake import async_insert, inbox
from worker.sources import Verified

logger = logging.getLogger(__name__)


def append(
    spool_dir: Path, source: str, verified: Verified, body: bytes, *, received_at: datetime
) -> Path:
    """Writes one delivery durably: the file is fsync'd, renamed into place, the folder fsync'd."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "source": source,
        "topic": verified.topic,
        "dedupe_key": verified.dedupe_key,
        "headers": verified.headers,
        "received_at": received_at.isoformat(),
        "body": base64.b64encode(body).decode(),
    }
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
    partial, final = spool_dir / f"{name}.partial", spool_dir / f"{name}.json"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(json.dumps(record).encode())
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, final)
    folder = os.open(spool_dir, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return final


@dataclass
class Drained:
    moved: int = 0  # files moved into the inbox (a repeat of a stored delivery included)
    new: list[int] = field(default_factory=list)  # ids of the new inbox rows


def drain(db: Session, spool_dir: Path, *, enqueued_at: datetime | None = None) -> Drained:
    """Moves spooled deliveries into the inbox, oldest first. Returns how many, and the new
    rows' ids for the caller to hand to `normalise` (`enqueued_at` says when it will).

    A file is removed only after its row is committed, so a crash here repeats a delivery, which
    the inbox's dedupe key absorbs, and never loses one. Another database error stops the drain;
    a file whose values the database refuses is renamed .bad, so it blocks no other.

    A spooled delivery already in the inbox was most often committed by the web just as its
    request gave up waiting (a database that hung, then woke): that row's hand-over may never
    have happened, so it is returned with the new ones while it is still pending (a message
    sent twice is harmless) instead of waiting for the relay's `requeue_after_s`.
    """
    drained = Drained()
    if not spool_dir.is_dir():
        return drained
    repeats: list[tuple[str, str]] = []
    for path in sorted(spool_dir.glob("*.json")):
        try:
            record = json.loads(path.read_bytes())
            verified = Verified(record["topic"], record["dedupe_key"], record["headers"])
            body = base64.b64decode(record["body"], validate=True)
            received_at = datetime.fromisoformat(record["received_at"])
        except (ValueError, KeyError, TypeError) as exc:  # not ours, or damaged: set aside
            logger.error("spool file %s unreadable (%s), renamed .bad", path.name, exc)
            path.rename(path.with_suffix(".bad"))
            continue
        try:
            stored = inbox.store(
                db, record["source"], verified, body, now=received_at, enqueued_at=enqueued_at
            )
        except async_insert.ROW_REFUSED as exc:  # its values (a NUL…): set aside, not retried
            db.rollback()
            logger.error(
                "spool file %s refused by the database (%s), renamed .bad",
                path.name,
                type(exc).__name__,
            )
            path.rename(path.with_suffix(".bad"))
            continue
        path.unlink()
        drained.moved += 1
        if stored.id is not None:
            drained.new.append(stored.id)
        else:
            repeats.append((record["source"], record["dedupe_key"]))
    drained.new += _still_pending(db, repeats)
    if drained.moved:
        logger.info("moved %d spooled webhook deliveries into the inbox", drained.moved)
    return drained


def _still_pending(db: Session, keys: list[tuple[str, str]]) -> list[int]:
    """The ids of the pending inbox rows stored under these (source, dedupe_key)."""
    found: list[int] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = select(INBOX.c.id).where(
            tuple_(INBOX.c.source, INBOX.c.dedupe_key).in_(chunk),
            INBOX.c.status == InboxStatus.PENDING.value,
        )
        found += [int(row_id) for row_id in db.execute(query).scalars()]
    db.commit()  # ends the read: SQLite's lock is not held past the drain
    return found
