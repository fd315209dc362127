"""`POST /events`: one canonical event or a batch of up to 1,000; 202 only after commit."""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError

from models.db import session
from worker import current_time, hygiene
from worker.canonical import IncomingEvent, describe_errors
from worker.intake.ingest import MAX_BATCH, store_events
from worker.queue import dispatch
from worker.web import outages
from worker.web.deps import read_body, require_api_token, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()


def _problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    content: dict[str, Any] = {"detail": detail}
    if errors:
        content["errors"] = errors
    return JSONResponse(content, status_code=status)


@router.post("/events", dependencies=[Depends(require_api_token)], status_code=202)
async def post_events(request: Request) -> JSONResponse:
    """202 once committed; 400/413/422 naming the problem; 503 with Retry-After while the
    database is away or does not answer within `outages.EVENTS_WITHIN_S`."""
    body = await read_body(request, settings_of(request).max_body_bytes)
    try:
        document = hygiene.loads(body)
    except hygiene.NotJSON as exc:  # deep nesting, NaN, a 5,000-digit number: named, never a 500
        return _problem(400, f"body is not JSON: {exc}")
    items = document if isinstance(document, list) else [document]
    if not items:
        return _problem(422, "an empty batch: send one event or a list of up to 1000")
    if len(items) > MAX_BATCH:
        return _problem(413, f"{len(items)} events in one batch; send at most {MAX_BATCH}")
    events, errors = _validated(items, batch=isinstance(document, list))
    if errors:
        return _problem(422, "invalid events; nothing was stored", errors)
    database = outages.database(request)
    if database.is_away():  # found hung a moment ago: no thread left waiting on it
        return outages.unavailable(database)
    settings = settings_of(request)
    now = current_time.now()
    try:
        result = await outages.run_bounded(
            functools.partial(_store, settings.database_url, events, now=now),
            within_s=outages.EVENTS_WITHIN_S,
        )
    except (DataError, UnicodeEncodeError, OverflowError) as exc:
        # A value the checks above let through and the database refuses: nothing was stored,
        # and sending the batch again cannot help, so a 4xx rather than a 500 retried forever.
        logger.warning("a batch refused by the database: %s", type(exc).__name__)
        return _problem(422, "the database refused a value in this batch; nothing was stored")
    except outages.DATABASE_AWAY as exc:
        # Away or hung: the sender keeps the batch and sends it again; a commit that still
        # lands from the abandoned thread makes that a repeat, answered as duplicates.
        # The error's own text too (scrubbed by worker.logs): an operator needs its cause.
        logger.warning("database unavailable, events refused with 503: %s", exc)
        database.mark_away(type(exc).__name__)
        return outages.unavailable(database)
    if result.stored and result.enqueued_at is not None:
        # Committed: a broker that hangs delays the answer no further than this, and a
        # message not sent is the relay's.
        with contextlib.suppress(outages.Unanswered):
            await outages.run_bounded(
                functools.partial(_hand_over, settings.database_url, result.stored),
                within_s=outages.STORE_WITHIN_S,
            )
    return JSONResponse(
        {"stored": len(result.stored), "duplicates": result.duplicates, "ids": result.stored},
        status_code=202,
    )


def _validated(
    items: list[Any], *, batch: bool
) -> tuple[list[IncomingEvent], list[dict[str, str]]]:
    """The events, or every problem found, each naming its field (`3.customer.email`)."""
    events: list[IncomingEvent] = []
    errors: list[dict[str, str]] = []
    for position, item in enumerate(items):
        try:
            events.append(IncomingEvent.model_validate(item))
        except ValidationError as exc:
            errors.extend(describe_errors(exc, f"{position}." if batch else ""))
    return events, errors


@dataclass
class _Stored:
    stored: list[int]
    duplicates: int
    enqueued_at: datetime | None


def _store(database_url: str, events: list[IncomingEvent], *, now: datetime) -> _Stored:
    """Commits the new events (a session of its own: its thread may outlive the request)."""
    enqueued_at = dispatch.enqueue_at(now)
    with session(database_url) as db:
        result = store_events(db, events, now=now, enqueued_at=enqueued_at)
    return _Stored(result.stored, result.duplicates, enqueued_at)


def _hand_over(database_url: str, ids: list[int]) -> None:
    with session(database_url) as db:
        dispatch.events(db, ids)
