"""`POST /webhooks/{platform}`: verify, store the raw body, commit, enqueue its id, answer."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool

from models.db import session
from worker import inbox, spool, timesource
from worker.groupcommit import group_for
from worker.settings import Settings
from worker.sources import Rejected, Verified, get_source
from worker.web.deps import read_body, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()


@router.post("/webhooks/{platform}")
async def receive(platform: str, request: Request) -> JSONResponse:
    """200 once the delivery is committed (or was already, or is fsync'd in the spool while the
    database is away); 401 bad signature; 400 malformed; 413 too large; 404 for a platform
    Ladder does not know. Parsing waits for the worker."""
    source = get_source(platform)
    if source is None:
        return JSONResponse({"detail": f"no such platform: {platform[:40]!r}"}, status_code=404)
    settings = settings_of(request)
    try:
        body = await read_body(request, settings.webhook_max_bytes)
        verified = source.verify(body, request.headers, settings=settings, now=timesource.now())
    except HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    except Rejected as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    if verified.is_ping:
        return JSONResponse({"detail": "pong"})
    return JSONResponse(await run_in_threadpool(_accept, settings, platform, verified, body))


def _accept(
    settings: Settings, platform: str, verified: Verified, body: bytes
) -> dict[str, object]:
    now = timesource.now()
    row = inbox.row_for(platform, verified, body, now=now)
    try:
        new_id = group_for(settings.database_url).submit(row)
    except (OperationalError, InterfaceError) as exc:  # the database is away: keep it on disk
        logger.warning("database unavailable, delivery spooled: %s", type(exc).__name__)
        spool.append(settings.spool_dir, platform, verified, body, received_at=now)
        return {"id": None, "duplicate": False, "spooled": True}
    stored = inbox.Stored(new_id, new_id is None)
    with session(settings.database_url) as db:
        inbox.hand_over(db, stored)  # after the commit: the row is durable before its message
    return {"id": stored.id, "duplicate": stored.duplicate}
