"""The web process: events API, webhooks, the customers' pages (unsubscribe, surveys, loyalty),
health. Stateless; scale it freely."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from worker import logs
from worker.intake import groupcommit
from worker.settings import Settings, get_settings
from worker.web import (
    events_api,
    health,
    loyalty,
    metrics,
    postmark_events,
    sendgrid_events,
    studio,
    surveys,
    unsubscribe,
    webhooks,
)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await groupcommit.close_all()  # the webhook group's database connection


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="Ladder", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings or get_settings()
    # First: their fixed paths must win over a `/webhooks/{platform}` route for shops.
    app.include_router(sendgrid_events.router)
    app.include_router(postmark_events.router)
    app.include_router(events_api.router)
    app.include_router(unsubscribe.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(webhooks.router)
    app.include_router(surveys.router)
    app.include_router(loyalty.router)
    app.include_router(studio.router)  # 404 until `ladder users add` made an account
    return app


def __getattr__(name: str) -> FastAPI:
    """`uvicorn worker.web:app` builds the app on first use, not at import."""
    if name == "app":
        logs.apply_format(root_handler=True)  # LOG_FORMAT=json: Ladder's own lines too
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
