"""`GET /metrics`: this web process's counters and the database's gauges, for Prometheus."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from worker.metrics import exposition
from worker.metrics.gauges import DatabaseGauges
from worker.queue.clock import LEADER_LEASE
from worker.web.deps import settings_of

router = APIRouter()


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The text exposition format. Open unless METRICS_TOKEN is set, then that bearer only: a
    scrape usually comes over an internal network, and the figures name no customer.
    A plain `def`: the gauges' queries run in FastAPI's thread pool, off the event loop."""
    settings = settings_of(request)
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}"
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Response(
                "missing or wrong bearer token\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
                media_type="text/plain",
            )
    gauges = DatabaseGauges(
        settings.database_url,
        backend=settings.email_backend.value,
        leader_lease=LEADER_LEASE,
    )
    return Response(exposition.render(exposition.Scrape(gauges)), media_type=CONTENT_TYPE_LATEST)
