"""`POST /webhooks/sendgrid`: SendGrid's signed Event Webhook, stored raw, then applied."""

from __future__ import annotations

import functools
import logging
import time
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from models.db import session
from worker import current_time
from worker.delivery import feedback
from worker.providers.sendgrid import is_signed_event_body
from worker.settings import Settings
from worker.web import outages
from worker.web.deps import read_body, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


@router.post("/webhooks/sendgrid", response_model=None)
async def sendgrid_events(request: Request) -> dict[str, int] | JSONResponse:
    """200 once the events are stored (applied too, unless that takes longer than the rest of
    the answer's time: the clock applies what is left); 503 with Retry-After while the
    database is away or hung (SendGrid retries); 401 unsigned, badly signed or stale; 400 not
    an array of events, or events holding what Ladder cannot store (each named, nothing
    stored); 413 too large; 503 when no verification key is configured."""
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
    database = outages.database(request)
    if database.is_away():  # found hung a moment ago: no thread left waiting on it
        return outages.unavailable(database)
    now = current_time.now()
    try:
        new = await outages.run_bounded(
            functools.partial(_store, settings.database_url, events, now=now),
            within_s=outages.SENDGRID_WITHIN_S,
        )
    except outages.DATABASE_AWAY as exc:
        # SendGrid retries an answer other than 2xx for three days: a 503 loses nothing, and a
        # commit that lands from the abandoned thread makes the retry a repeat, skipped.
        logger.warning("database unavailable, provider events refused: %s", exc)
        database.mark_away(type(exc).__name__)
        return outages.unavailable(database)
    try:
        applied = await outages.run_bounded(
            functools.partial(_apply, settings, new, now=now), within_s=outages.SENDGRID_WITHIN_S
        )
    except outages.Unanswered:  # stored: its thread goes on, and the clock re-applies the rest
        applied = 0
    return {"received": len(events), "new": len(new), "applied": applied}


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


def _store(database_url: str, events: list[dict[str, object]], *, now: datetime) -> list[int]:
    with session(database_url) as db:
        return feedback.store(db, events, now=now)  # committed: SendGrid may now hear 200


def _apply(settings: Settings, new: list[int], *, now: datetime) -> int:
    with session(settings.database_url) as db:
        try:
            return feedback.apply_stored(db, new, now=now, settings=settings)
        except Exception:
            # Stored raw, `applied_at` still empty: kept for a replay after a fix, not lost.
            db.rollback()
            logger.exception("provider events stored but not applied (ids %s)", new)
            return 0
