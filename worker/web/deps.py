"""Shared request helpers: settings, database sessions, bounded bodies, bearer auth."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from fastapi import HTTPException, Request
from sqlmodel import Session

from models.db import session
from worker.settings import Settings


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def db_session(request: Request) -> Iterator[Session]:
    with session(settings_of(request).database_url) as db:
        yield db


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it grows past `limit` (a lying Content-Length too)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
    return bytes(body)


def require_api_token(request: Request) -> None:
    """Bearer LADDER_API_TOKEN, compared in constant time. With no token set (embedded mode on a
    laptop), only requests from this machine are accepted."""
    settings = settings_of(request)
    expected = settings.ladder_api_token
    if expected is None:
        client = request.client.host if request.client else ""
        if client in ("127.0.0.1", "::1", "testclient", "localhost"):
            return
        raise HTTPException(401, "set LADDER_API_TOKEN to accept events from other machines")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
