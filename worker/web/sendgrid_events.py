"""`POST /webhooks/sendgrid`: SendGrid's signed Event Webhook, stored raw, then applied."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from models.db import session
from worker import current_time
from worker.delivery import feedback
from worker.providers.sendgrid import is_signed_event_body
from worker.settings import Settings
from worker.web.deps import read_body, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


@router.post("/webhooks/sendgrid", response_model=None)
async def sendgrid_events(request: Request) -> dict[str, int] | JSONResponse:
    """200 once the events are stored; 401 unsigned, badly signed or stale; 400 not an array
    of events, or events holding what Ladder cannot store (each named, nothing stored); 413
    too large; 503 when no verification key is configured."""
    settings = settings_of(request)
    body = await read_body(request, settings.max_body_bytes)
    _verify(request, body, settings)
    try:
        events = feedback.parse(body)
    except feedback.MalformedEvents as exc:
        raise HTTPException(400, str(exc)) from exc
    if errors := feedback.problems(events):
        detail = "events Ladder cannot store; nothing was stored"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=400)
    return await run_in_threadpool(_store_and_apply, settings, events)


def _verify(request: Request, body: bytes, settings: Settings) -> None:
    key = settings.sendgrid_webhook_public_key
    if not key:
        raise HTTPException(503, "SENDGRID_WEBHOOK_PUBLIC_KEY is not set: events not accepted")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp.isdigit():
        raise HTTPException(401, f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    # Replays: a signed body is only good for a while. Real time, not the demo's clock.
    if abs(time.time() - int(timestamp)) > settings.sendgrid_webhook_max_age_s:
        raise HTTPException(401, "timestamp too old or in the future")
    if not is_signed_event_body(key, signature=signature, timestamp=timestamp, body=body):
        raise HTTPException(401, "signature does not match")


def _store_and_apply(settings: Settings, events: list[dict[str, object]]) -> dict[str, int]:
    now = current_time.now()
    with session(settings.database_url) as db:
        new = feedback.store(db, events, now=now)  # committed: SendGrid may now hear 200
        try:
            applied = feedback.apply_stored(db, new, now=now, settings=settings)
        except Exception:
            # Stored raw, `applied_at` still empty: kept for a replay after a fix, not lost.
            db.rollback()
            logger.exception("provider events stored but not applied (ids %s)", new)
            applied = 0
    return {"received": len(events), "new": len(new), "applied": applied}
