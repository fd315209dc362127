"""`GET /healthz`: the web process is alive (a liveness probe: nothing else is asked, so a
database outage does not get a web restarted that would still spool webhooks). `GET /readyz`:
the database and the broker answer (a readiness probe), with each one's state."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from models.db import session
from worker.queue import broker
from worker.web import outages
from worker.web.deps import settings_of

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """200 while the process can answer at all."""
    return JSONResponse({"status": "alive"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database and the broker answer; 503 with Retry-After when either is away
    or hung, naming which (`status` "degraded" while only the broker is: webhooks and events
    are still stored, the relay sends them later; "unavailable" while the database is:
    webhooks are still answered, from the spool). Each probe is bounded."""
    database = await _database(settings_of(request).database_url, outages.database(request))
    queue = await _broker()
    ready = database == "ok" and queue in ("ok", "in-process")
    status = "ok" if ready else ("degraded" if database == "ok" else "unavailable")
    body = {"status": status, "database": database, "broker": queue}
    if not ready:
        headers = {"Retry-After": str(outages.RETRY_AFTER_S)}
        return JSONResponse(body, status_code=503, headers=headers)
    return JSONResponse(body)


async def _database(database_url: str, dependency: outages.Dependency) -> str:
    if dependency.is_away():  # found hung a moment ago: no thread left waiting on it
        return "away"
    try:
        await outages.run_bounded(
            functools.partial(_select_one, database_url), within_s=outages.PROBE_WITHIN_S
        )
    except outages.DATABASE_AWAY as exc:
        dependency.mark_away(type(exc).__name__)
        return "away"
    dependency.mark_back()
    return "ok"


def _select_one(database_url: str) -> None:
    with session(database_url) as db:
        db.execute(text("SELECT 1"))


async def _broker() -> str:
    if not broker.is_remote():
        return "in-process"
    try:
        await outages.run_bounded(broker.ping, within_s=outages.PROBE_WITHIN_S)
    except outages.BROKER_AWAY:
        return "away"
    return "ok"
