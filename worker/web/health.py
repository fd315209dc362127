"""`GET /healthz`: the web process is up; which of its dependencies answer, and which are away."""

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
async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers (`status` "degraded" while the broker is away: webhooks and
    events are still stored, the relay sends them later); 503 with Retry-After when the database
    is away or hung (webhooks are still answered, from the spool). Each probe is bounded."""
    database = await _database(settings_of(request).database_url, outages.database(request))
    queue = await _broker()
    status = "ok" if database == "ok" and queue in ("ok", "in-process") else "degraded"
    body = {"status": status if database == "ok" else "unavailable", "database": database}
    body["broker"] = queue
    if database != "ok":
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
