"""`GET /healthz`: the web process is up and can reach its database."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import text
from sqlmodel import Session

from worker.web.deps import db_session

router = APIRouter()


@router.get("/healthz")
def healthz(db: Session = Depends(db_session)) -> dict[str, str]:  # noqa: B008
    db.execute(text("SELECT 1"))
    return {"status": "ok"}
