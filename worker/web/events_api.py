"""`POST /events`: one canonical event or a batch of up to 1,000; 202 only after commit."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from worker import current_time, hygiene
from worker.canonical import CanonicalEvent, describe_errors
from worker.intake.ingest import MAX_BATCH
from worker.queue import dispatch
from worker.web.deps import db_session, read_body, require_api_token, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()


def _problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    content: dict[str, Any] = {"detail": detail}
    if errors:
        content["errors"] = errors
    return JSONResponse(content, status_code=status)


@router.post("/events", dependencies=[Depends(require_api_token)], status_code=202)
async def post_events(request: Request, db: Session = Depends(db_session)) -> JSONResponse:  # noqa: B008
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
    events, errors = [], []
    for position, item in enumerate(items):
        prefix = f"{position}." if isinstance(document, list) else ""
        try:
            events.append(CanonicalEvent.model_validate(item))
        except ValidationError as exc:
            errors.extend(describe_errors(exc, prefix))
    if errors:
        return _problem(422, "invalid events; nothing was stored", errors)
    try:
        result = await run_in_threadpool(dispatch.ingest, db, events, now=current_time.now())
    except (DataError, UnicodeEncodeError, OverflowError) as exc:
        # A value the checks above let through and the database refuses: nothing was stored,
        # and sending the batch again cannot help, so a 4xx rather than a 500 retried forever.
        logger.warning("a batch refused by the database: %s", type(exc).__name__)
        return _problem(422, "the database refused a value in this batch; nothing was stored")
    return JSONResponse(
        {"stored": len(result.stored), "duplicates": result.duplicates, "ids": result.stored},
        status_code=202,
    )
