"""Heartbeats: every worker process and every clock writes a `leases` row
`heartbeat:<kind>:<host>:<pid>` each BEAT_S, alive until BEAT_TTL after its last beat, so
`ladder status` can say which processes run (and which stopped) on every host, and the clock's
leader lease says whether one leads. A beat is one small write; a database away skips it."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from models import Lease
from models.db import insert_ignoring_duplicates, session
from models.tables import LEASES
from worker import current_time

logger = logging.getLogger(__name__)

PREFIX = "heartbeat:"
BEAT_S = 10.0
BEAT_TTL = timedelta(seconds=30)  # three beats missed: the process is gone
FORGET_AFTER = timedelta(days=1)  # a stopped process's row is kept this long, then deleted


def ident() -> str:
    """This process: its host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _name(kind: str, who: str) -> str:
    host, _, pid = who.rpartition(":")
    return f"{PREFIX}{kind}:{host[:40]}:{pid}"[:64]  # the lease name's column holds 64


def beat(db: Session, kind: str, *, now: datetime, who: str | None = None) -> None:
    """Records that `who` (this process) of `kind` ("worker", "clock") is alive at `now`."""
    who = who or ident()
    name = _name(kind, who)
    insert_ignoring_duplicates(db, LEASES, [{"name": name}], LEASES.c.name)
    db.execute(
        update(Lease)
        .where(col(Lease.name) == name)
        .values(holder=who[:128], expires_at=now + BEAT_TTL, last_run_at=now)
    )
    db.commit()


def stopped(db: Session, kind: str, *, who: str | None = None) -> None:
    """A process that stops cleanly takes its row away at once."""
    db.execute(delete(Lease).where(col(Lease.name) == _name(kind, who or ident())))
    db.commit()


def processes(db: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Every process that beat within FORGET_AFTER: its kind, host:pid, last beat, and whether
    it is alive (beat within BEAT_TTL). Rows older than that are deleted."""
    db.execute(
        delete(Lease).where(
            col(Lease.name).startswith(PREFIX), col(Lease.expires_at) < now - FORGET_AFTER
        )
    )
    db.commit()
    rows = db.execute(
        select(col(Lease.name), col(Lease.holder), col(Lease.last_run_at), col(Lease.expires_at))
        .where(col(Lease.name).startswith(PREFIX))
        .order_by(col(Lease.name))
    ).all()
    return [
        {
            "kind": name.removeprefix(PREFIX).split(":", 1)[0],
            "process": holder,
            "last_beat": last.isoformat() if last else None,
            "alive": expires is not None and expires > now,
        }
        for name, holder, last, expires in rows
    ]


def leader(db: Session, name: str, *, now: datetime) -> dict[str, Any]:
    """The clock's leader lease `name`: who holds it and until when; `leading` False when no
    clock holds an unexpired one (no relay, no daily jobs: an alert)."""
    row = db.execute(
        select(col(Lease.holder), col(Lease.expires_at)).where(col(Lease.name) == name)
    ).first()
    holder, expires = (row.holder, row.expires_at) if row else (None, None)
    leading = holder is not None and expires is not None and expires > now
    return {
        "leading": leading,
        "holder": holder if leading else None,
        "until": expires.isoformat() if leading and expires else None,
    }


class Heartbeat(dramatiq.Middleware):
    """Beats for a worker process from its boot to its shutdown, on a thread of its own."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:  # noqa: ARG002
        self.stop.clear()
        self.thread = threading.Thread(target=self._beat, name="ladder-heartbeat", daemon=True)
        self.thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:  # noqa: ARG002
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        try:
            with session(self.database_url) as db:
                stopped(db, "worker")
        except Exception:  # the database away as it stops: the row expires by itself
            logger.debug("heartbeat: could not remove this worker's row", exc_info=True)

    def _beat(self) -> None:
        while not self.stop.is_set():
            try:
                with session(self.database_url) as db:
                    beat(db, "worker", now=current_time.now())
            except Exception:  # the database away: the next beat tries again
                logger.debug("heartbeat skipped", exc_info=True)
            self.stop.wait(BEAT_S)
