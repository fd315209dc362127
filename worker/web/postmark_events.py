"""`POST /webhooks/postmark`: Postmark's webhooks behind HTTP Basic auth, stored raw, then
applied as SendGrid's events are."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from models.db import session
from worker import current_time
from worker.delivery import feedback, postmark_events
from worker.settings import Settings
from worker.web import outages
from worker.web.deps import read_body, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()

CHALLENGE = {"WWW-Authenticate": 'Basic realm="postmark"'}


@router.post("/webhooks/postmark", response_model=None)
async def postmark_events_route(request: Request) -> dict[str, int] | JSONResponse:
    """200 once the record is stored (applied too, unless that takes longer than the rest of
    the answer's time: the clock applies what is left); 401 without the configured Basic
    credentials; 400 not a record, or one holding what Ladder cannot store (nothing stored);
    413 too large; 503 while the database is away (Postmark retries) or when no credentials
    are configured."""
    settings = settings_of(request)
    _authenticate(request, settings)
    body = await read_body(request, settings.max_body_bytes)
    try:
        record = postmark_events.parse(body)
    except postmark_events.MalformedRecord as exc:
        raise HTTPException(400, str(exc)) from exc
    if errors := postmark_events.problems(record):
        detail = "a record Ladder cannot store; nothing was stored"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=400)
    database = outages.database(request)
    if database.is_away():
        return outages.unavailable(database)
    now = current_time.now()
    try:
        new = await outages.run_bounded(
            functools.partial(_store, settings.database_url, record, now=now),
            within_s=outages.SENDGRID_WITHIN_S,
        )
    except outages.DATABASE_AWAY as exc:
        # Postmark retries an answer other than 200 (for hours, more and more slowly): a 503
        # loses nothing, and a commit that lands from the abandoned thread makes it a repeat.
        logger.warning("database unavailable, Postmark record refused: %s", exc)
        database.mark_away(type(exc).__name__)
        return outages.unavailable(database)
    try:
        applied = await outages.run_bounded(
            functools.partial(_apply, settings, new, now=now), within_s=outages.SENDGRID_WITHIN_S
        )
    except outages.Unanswered:  # stored: its thread goes on, and the clock re-applies the rest
        applied = 0
    return {"received": 1, "new": len(new), "applied": applied}


def _authenticate(request: Request, settings: Settings) -> None:
    """Postmark signs nothing: the credentials it was given in the webhook URL are the proof.
    Both are compared in constant time, whatever the first comparison found."""
    username, password = settings.postmark_webhook_username, settings.postmark_webhook_password
    if username is None or password is None:
        raise HTTPException(503, "POSTMARK_WEBHOOK_USERNAME is not set: records not accepted")
    given_user, given_password = _basic_credentials(request.headers.get("authorization", ""))
    user_ok = hmac.compare_digest(given_user, username.encode())
    password_ok = hmac.compare_digest(given_password, password.get_secret_value().encode())
    if not (user_ok and password_ok):
        raise HTTPException(401, "HTTP Basic credentials required", headers=CHALLENGE)


def _basic_credentials(header: str) -> tuple[bytes, bytes]:
    """(user, password) of a Basic Authorization header; empty for anything else."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return b"", b""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (ValueError, binascii.Error):
        return b"", b""
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else (b"", b"")


def _store(database_url: str, record: dict[str, Any], *, now: datetime) -> list[int]:
    with session(database_url) as db:
        # committed: Postmark may now hear 200
        return feedback.store_rows(db, [postmark_events.row(db, record, now=now)])


def _apply(settings: Settings, new: list[int], *, now: datetime) -> int:
    with session(settings.database_url) as db:
        try:
            return feedback.apply_stored(db, new, now=now, settings=settings)
        except Exception:
            # Stored raw, `applied_at` still empty: kept for a replay after a fix, not lost.
            db.rollback()
            logger.exception("Postmark record stored but not applied (ids %s)", new)
            return 0
