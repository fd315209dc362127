"""`POST /webhooks/{platform}`: verify, store the raw body, commit, enqueue its id, answer."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from models.db import session
from worker import inbox, timesource
from worker.settings import Settings
from worker.sources import Rejected, Verified, get_source
from worker.web.deps import read_body, settings_of

router = APIRouter()


@router.post("/webhooks/{platform}")
async def receive(platform: str, request: Request) -> JSONResponse:
    """200 once the delivery is committed (or was already); 401 bad signature; 400 malformed;
    413 too large; 404 for a platform Ladder does not know. Parsing waits for the worker."""
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
    stored = await run_in_threadpool(_accept, settings, platform, verified, body)
    return JSONResponse({"id": stored.id, "duplicate": stored.duplicate})


def _accept(settings: Settings, platform: str, verified: Verified, body: bytes) -> inbox.Stored:
    with session(settings.database_url) as db:
        return inbox.accept(db, platform, verified, body, now=timesource.now())
