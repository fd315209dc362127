"""Broadcasts in the studio: `/studio/broadcasts` lists each broadcast and content series with
where it stands; `/studio/broadcasts/{name}` shows a broadcast's runs and A/B result (`ladder
broadcast status`), its plan before anything is sent (`ladder broadcast plan`), and the
Schedule and Cancel buttons (a publisher's; `ladder broadcast schedule|cancel`).

Each reads the files' live versions, as the clock does; the buttons post the studio's CSRF
token and are answered by a redirect to the page showing their result.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from models.db import session
from triggers.broadcast import NAME, Broadcast
from worker import current_time
from worker.authoring.broadcast_plan import SCORED, BroadcastPlan, plan_broadcast
from worker.authoring.broadcast_status import series_steps, status_of
from worker.authoring.reporting import money
from worker.rendering.renderer import Renderer
from worker.scheduling.audience_sql import AudienceError
from worker.scheduling.broadcasts import ScheduleError
from worker.studio import broadcasting
from worker.web.studio.accounts import Role
from worker.web.studio.chrome import Seen, seen_by
from worker.web.studio.pages import page

router = APIRouter(prefix="/studio")

Name = Annotated[str, Path(pattern=NAME)]
viewing, publishing = seen_by(Role.VIEWER), seen_by(Role.PUBLISHER)

# What a redirect after a button says: fixed words, so that a link cannot make the page say
# something of its choosing; the runs table shows the rest.
DONE = {
    "scheduled": "Scheduled. The clock resolves its audience at the time the runs show, and "
    "the emails go out at each customer's send time.",
    "cancelled": "Cancelled: its runs waiting and its emails not yet sent.",
}


@router.get("/broadcasts", response_class=HTMLResponse)
def overview(who: Annotated[Seen, Depends(viewing)]) -> str:
    """Every broadcast with its next date and latest run; every series with each step's
    deliveries."""
    settings = who.settings
    with session(settings.database_url) as db:
        files = broadcasting.live_broadcasts(db, settings)
        latest = {
            item.found.name: next(iter(status_of(db, item.found.name).runs), None)
            for item in files
            if item.found is not None
        }
        series = [
            (
                item,
                series_steps(db, item.found.trigger_name, item.found.steps) if item.found else [],
            )
            for item in broadcasting.live_series(db, settings)
        ]
    return page(
        "broadcasts.html", title="Broadcasts and series", files=files, latest=latest,
        series=series, today=current_time.now().date(), notice=None, **who.chrome(),
    )  # fmt: skip


@router.get("/broadcasts/{name}", response_class=HTMLResponse)
def broadcast_page(
    who: Annotated[Seen, Depends(viewing)],
    name: Name,
    done: Annotated[str, Query(max_length=16)] = "",
) -> str:
    """Its runs, their deliveries and who was held back; its A/B result; its plan."""
    return _page(who, name, done=done)


def _page(who: Seen, name: str, *, done: str = "", refused: str | None = None) -> str:
    settings, now = who.settings, current_time.now()
    env = Renderer(settings.templates_dir, settings.default_locale).env
    with session(settings.database_url) as db:
        item = _file(db, who, name)
        found = item.found
        assert found is not None  # _file answers 404 for a file that does not load
        status = status_of(db, name)
        plan: BroadcastPlan | None = None
        plan_problem = ""
        try:
            plan = plan_broadcast(db, found, env=env, settings=settings, now=now)
        except AudienceError as exc:
            plan_problem = f"audience: {exc}"
    notice = (False, refused) if refused else (True, DONE[done]) if done in DONE else None
    return page(
        "broadcast.html", title=f"Broadcast {name}", item=item, broadcast=found,
        status=status, plan=plan, plan_problem=plan_problem, scored=SCORED,
        money=money, currency=settings.default_currency, notice=notice,
        can_schedule=who.may(Role.PUBLISHER), **who.chrome(),
    )  # fmt: skip


def _file(db: Session, who: Seen, name: str) -> broadcasting.LiveFile[Broadcast]:
    """The broadcast file that names `name`, as it is live; 404 for none."""
    for item in broadcasting.live_broadcasts(db, who.settings):
        if item.found is not None and item.found.name == name:
            return item
    raise HTTPException(404, f"no broadcast file names {name!r}")


@router.post("/broadcasts/{name}/schedule")
def schedule(
    who: Annotated[Seen, Depends(publishing)],
    name: Name,
    token: Annotated[str, Form(max_length=64)] = "",
    day: Annotated[date | None, Form()] = None,
) -> Response:
    """Schedules its next run (or the one of `day`) as `ladder broadcast schedule` does."""
    settings, now = who.settings, current_time.now()
    who.check(token)
    with session(settings.database_url) as db:
        found = _file(db, who, name).found
        assert found is not None
        if not found.enabled:
            refused = f"{name} is disabled in its file (enabled = false): the clock skips it"
        else:
            try:
                broadcasting.schedule(db, found, settings=settings, by=who.person.email,
                                      now=now, day=day)  # fmt: skip
            except ScheduleError as exc:
                refused = str(exc)
            else:
                return _back(name, "scheduled")
    return HTMLResponse(_page(who, name, refused=refused), 422)


@router.post("/broadcasts/{name}/cancel")
def cancel(
    who: Annotated[Seen, Depends(publishing)],
    name: Name,
    token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Cancels its runs waiting and its deliveries not yet sent, as `ladder broadcast cancel`."""
    settings, now = who.settings, current_time.now()
    who.check(token)
    with session(settings.database_url) as db:
        runs, deliveries = broadcasting.cancel(db, name, by=who.person.email, now=now)
    if not runs and not deliveries:
        return HTMLResponse(_page(who, name, refused=f"{name} has nothing waiting to cancel"), 422)
    return _back(name, "cancelled")


def _back(name: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/studio/broadcasts/{name}?{urlencode({'done': done})}", 303)
