"""Customers in the studio: `/studio/customers?q=` finds one by address or name (20 at most),
`/studio/customers/{id}` shows their timeline as `ladder explain` does, and
`/studio/suppressions` the addresses never mailed again, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse

from models import Customer
from models.db import session
from triggers import TriggerError
from worker import current_time
from worker.authoring.explaining import explain
from worker.authoring.lookups import FOUND_AT_MOST, find_customers, suppressions
from worker.runtime import Runtime
from worker.web.studio.accounts import Role
from worker.web.studio.chrome import Seen, seen_by
from worker.web.studio.dashboard_pages import render

router = APIRouter(prefix="/studio")
MAX_ID = 2**31 - 1  # ids are PostgreSQL integers


@router.get("/customers", response_class=HTMLResponse)
def search(
    seen: Annotated[Seen, Depends(seen_by(Role.VIEWER))],
    q: Annotated[str, Query(max_length=320)] = "",
) -> str:
    with session(seen.settings.database_url) as db:
        found = find_customers(db, q)
    return render(
        "customers", title="Customers", here="/studio/customers", q=q, found=found,
        at_most=FOUND_AT_MOST, **seen.chrome(),
    )  # fmt: skip


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def timeline(
    seen: Annotated[Seen, Depends(seen_by(Role.VIEWER))],
    customer_id: int,
) -> str:
    """Events, the triggers each started or why not, every delivery's fate."""
    if not 1 <= customer_id <= MAX_ID:  # past the column's range no row can have that id
        raise HTTPException(404, "no such customer")
    settings = seen.settings
    runtime = Runtime(settings)
    with session(settings.database_url) as db:
        runtime.follow(db)  # what the studio published, as the workers match with it
        try:
            triggers = runtime.triggers
        except TriggerError as exc:
            raise HTTPException(503, f"the trigger files do not load: {exc}") from exc
        customer = db.get(Customer, customer_id)
        if customer is None:
            raise HTTPException(404, "no such customer")
        found = explain(
            db,
            customer.email,
            triggers=triggers,
            env=runtime.renderer.env,
            settings=settings,
            now=current_time.now(),
            broadcasts=runtime.broadcasts,
        )
        if found is None:  # erased between the two reads
            raise HTTPException(404, "no such customer")
        return render(
            "timeline", title=f"Customer {customer.id}: {customer.email}",
            here="/studio/customers", found=found, **seen.chrome(),
        )  # fmt: skip


@router.get("/suppressions", response_class=HTMLResponse)
def suppression_list(
    seen: Annotated[Seen, Depends(seen_by(Role.VIEWER))],
    q: Annotated[str, Query(max_length=320)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> str:
    with session(seen.settings.database_url) as db:
        page = suppressions(db, containing=q, before=before)
    older = "/studio/suppressions?" + urlencode({"q": q, "before": page.older or ""})
    return render(
        "suppressions", title="Suppressions", here="/studio/suppressions", q=q, page=page,
        older_url=older, **seen.chrome(),
    )  # fmt: skip
