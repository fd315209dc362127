"""`POST /webhooks/{platform}`: verify, store the raw body, commit, enqueue its id, answer."""

from __future__ import annotations

import functools
import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from worker import current_time
from worker.intake import async_insert, inbox, spool
from worker.intake.groupcommit import GroupCommit, group_for
from worker.metrics import counters
from worker.queue import dispatch
from worker.sources import Rejected
from worker.sources.registry import get_source
from worker.web import outages
from worker.web.deps import read_body, settings_of

logger = logging.getLogger(__name__)
router = APIRouter()


@router.post("/webhooks/{platform}")
async def receive(platform: str, request: Request) -> JSONResponse:
    """Answers as `_receive` does, and counts the answer by platform and reason."""
    response, accepted_as = await _receive(platform, request)
    known = get_source(platform) is not None  # an unknown name is not a label: a bounded set
    counters.webhook_answered(platform if known else "unknown", response.status_code, accepted_as)
    return response


async def _receive(platform: str, request: Request) -> tuple[JSONResponse, str | None]:
    """200 once the delivery is committed (or was already, or is fsync'd in the spool while the
    database is away or does not answer within `outages.STORE_WITHIN_S`); 401 bad signature;
    503 + Retry-After while the platform's secret is not set;
    400 malformed; 413 too large; 404 for a platform Ladder does not know. Parsing waits for
    the worker. Beside the answer, how an accepted one was taken (stored, duplicate, spooled,
    ping); None for a refusal."""
    source = get_source(platform)
    if source is None:
        unknown = {"detail": f"no such platform: {platform[:40]!r}"}
        return JSONResponse(unknown, status_code=404), None
    settings = settings_of(request)
    try:
        body = await read_body(request, settings.webhook_max_bytes)
        verified = source.verify(body, request.headers, settings=settings, now=current_time.now())
    except HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code), None
    except Rejected as exc:
        if exc.status == 401 and not settings.webhook_secrets(platform):
            return _no_secret(platform), None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status), None
    if verified.is_ping:
        return JSONResponse({"detail": "pong"}), "ping"
    now = current_time.now()
    row = inbox.row_for(platform, verified, body, now=now, enqueued_at=dispatch.enqueue_at(now))
    group = group_for(settings.database_url, _inbox_group)
    try:
        new_id = await group.submit(row, within_s=outages.STORE_WITHIN_S)
    except async_insert.ROW_REFUSED as exc:  # a value the database cannot store: not retried
        logger.warning("delivery refused by the database: %s", type(exc).__name__)
        return JSONResponse({"detail": "the delivery cannot be stored"}, status_code=400), None
    except outages.DATABASE_AWAY as exc:
        # The database away, hung or not writable: keep the delivery on disk until the clock
        # moves it into the inbox. (A row committed late as well is a repeat the inbox absorbs.)
        logger.warning("database unavailable, delivery spooled: %s", type(exc).__name__)
        outages.database(request).mark_away(type(exc).__name__)
        await outages.in_spool_thread(
            functools.partial(
                spool.append, settings.spool_dir, platform, verified, body, received_at=now
            )
        )
        return JSONResponse({"id": None, "duplicate": False, "spooled": True}), "spooled"
    answer = JSONResponse({"id": new_id, "duplicate": new_id is None})
    return answer, "stored" if new_id is not None else "duplicate"


# How long a platform should wait before retrying while the secret is not set: an operator's
# fix, minutes away; the platforms retry for hours (Shopify 48 h), so nothing is lost.
NO_SECRET_RETRY_AFTER_S = 300


def _no_secret(platform: str) -> JSONResponse:
    """503 + Retry-After when no secret is configured to check the signature with: the
    signature may be fine, Ladder cannot tell, and a 401 would send the operator to the wrong
    place (and make some platforms give up on the endpoint). The platform retries later."""
    variable = f"{platform.upper()}_WEBHOOK_SECRETS"
    logger.warning("webhook for %s refused: %s is not set", platform, variable)
    return JSONResponse(
        {"detail": f"{variable} is not set: Ladder cannot check this delivery's signature yet"},
        status_code=503,
        headers={"Retry-After": str(NO_SECRET_RETRY_AFTER_S)},
    )


def _inbox_group(database_url: str) -> GroupCommit:
    """Inbox rows of concurrent deliveries inserted together (on PostgreSQL from the event
    loop), their new ids handed to `normalise_batch` in one message."""
    writer = (
        async_insert.PostgresInbox(database_url) if async_insert.is_postgres(database_url) else None
    )

    def hand_over(ids: list[int]) -> None:
        dispatch.inbox_together(database_url, ids)  # a broker away leaves them to the relay

    return GroupCommit(
        lambda rows: inbox.store_rows(database_url, rows),
        hand_over,
        writer.store_rows if writer is not None else None,
        writer.close if writer is not None else None,
        async_insert.DATABASE_AWAY,
    )
