"""What is happening: `/studio/` shows each trigger's emails over a period (as `ladder report`
counts them), its state and what `ladder plan` expects it to send next, and any sending pause,
with a button that lifts it as `ladder sending resume` does (`POST /studio/pauses/lift`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from models.db import session
from models.studio import FileKind
from triggers import Trigger, TriggerError, TriggerSet, load_triggers
from worker import current_time
from worker.authoring.planning import Plan, plan
from worker.delivery import pauses
from worker.measurement.performance import Line, by_trigger, performance
from worker.rendering import published
from worker.rendering.renderer import Renderer
from worker.settings import Settings
from worker.studio import audit
from worker.web.studio.accounts import Role
from worker.web.studio.chrome import Seen, seen_by
from worker.web.studio.dashboard_pages import render

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/studio")

DAY_CHOICES = (7, 30, 90, 365)
PLAN_DAYS = 7  # the plan replays a week of events per trigger: a page, not a batch job
PROVIDER = r"^[a-z0-9_-]{1,32}$"


@dataclass(frozen=True)
class TriggerRow:
    name: str
    on: str
    state: str
    state_class: str  # on, off, paused: the colour
    line: Line
    next: int | None  # emails the plan expects; None: the plan does not cover it (disabled)
    entering: int


@router.get("/", response_class=HTMLResponse)
def home(
    seen: Annotated[Seen, Depends(seen_by(Role.VIEWER))],
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    lifted: Annotated[str, Query(pattern=PROVIDER)] = "",
) -> str:
    """Per trigger, the emails due in the last `days` days; the sending pauses."""
    settings, now = seen.settings, current_time.now()
    renderer = Renderer(settings.templates_dir, settings.default_locale)
    with session(settings.database_url) as db:
        files, problem = _live_triggers(db, settings, renderer)
        paused = pauses.all_pauses(db)
        lines = by_trigger(
            performance(
                db, since=now - timedelta(days=days), until=None,
                default_locale=settings.default_locale,
            )
        )  # fmt: skip
        expected = _plan(db, files, renderer, settings, now)
    said = f"Sending through {lifted} resumed: deliveries go out on the next tick."
    return render(
        "home",
        title="What is happening",
        here="/studio/",
        rows=_rows(files, lines, expected, paused=bool(paused)),
        pauses=paused,
        days=days,
        day_choices=sorted({*DAY_CHOICES, days}),
        plan_days=PLAN_DAYS,
        currency=settings.default_currency,
        trigger_problem=problem,
        lifted=said if lifted else "",
        can_lift=seen.may(Role.PUBLISHER),
        **seen.chrome(),
    )


def _live_triggers(
    db: Session, settings: Settings, renderer: Renderer
) -> tuple[list[Trigger], str]:
    """Every trigger, disabled ones too, as the workers match with them: the studio's
    published versions over the files in git; or none and why."""
    overlay = published.live(db, FileKind.TRIGGER).bodies
    try:
        return load_triggers(settings.triggers_dir, renderer.env, overlay), ""
    except TriggerError as exc:
        return [], f"The trigger files do not load: {exc}"


def _plan(
    db: Session, files: list[Trigger], renderer: Renderer, settings: Settings, now: datetime
) -> Plan:
    triggers = TriggerSet.build(renderer.env, files)  # the enabled ones, as the workers take
    return plan(db, triggers=triggers, settings=settings, now=now, days=PLAN_DAYS)


def _rows(
    files: list[Trigger], lines: list[Line], expected: Plan, *, paused: bool
) -> list[TriggerRow]:
    """Every trigger file, then what sent in the period without one (a broadcast, a file since
    removed); the busiest first, so what earns and sends is on the first screen."""
    by_name = {line.trigger: line for line in lines}
    emails: dict[str, int] = {}
    for (name, _, _), count in expected.emails.items():
        emails[name] = emails.get(name, 0) + count
    rows = []
    for trigger in files:
        state, css = ("enabled", "on") if trigger.enabled else ("disabled", "off")
        if trigger.enabled and paused:
            state, css = "paused", "paused"  # the banner above says why
        if trigger.holdout:
            state += f" · holdout {trigger.holdout:.0%}"
        line = by_name.pop(trigger.name, Line(trigger.name, "*", "*", "*"))
        planned = emails.get(trigger.name, 0) if trigger.enabled else None
        entering = len(expected.entering.get(trigger.name, ()))
        rows.append(TriggerRow(trigger.name, trigger.on, state, css, line, planned, entering))
    for name, line in sorted(by_name.items()):
        rows.append(TriggerRow(name, "no trigger file", "-", "off", line, None, 0))
    return sorted(rows, key=_busiest)


def _busiest(row: TriggerRow) -> tuple[int, int, int, int, str]:
    line = row.line
    return (-line.revenue, -line.sent, -line.scheduled, -(row.next or 0), row.name)


@router.post("/pauses/lift")
def lift_pause(
    seen: Annotated[Seen, Depends(seen_by(Role.PUBLISHER))],
    provider: Annotated[str, Form(pattern=PROVIDER)],
    token: Annotated[str, Form(max_length=64)] = "",  # missing: refused as forged (403)
) -> RedirectResponse:
    """Lifts the pause of `provider` as `ladder sending resume` does (deliveries due go on the
    next tick), with an audit line committed with it; back to the dashboard."""
    settings, now = seen.settings, current_time.now()
    seen.check(token)
    user = seen.person.email
    with session(settings.database_url) as db:
        found = pauses.pause_of(db, provider)
        if found is None:  # lifted already (a probe, the CLI, another tab): nothing to record
            return RedirectResponse("/studio/", status_code=303)
        audit.record(
            db, actor=user, action="lift-pause", subject=f"sending:{provider}", now=now,
            detail=found.reason,
        )  # fmt: skip
        pauses.resume(db, provider, now=now)  # commits the audit line with the lift
    logger.info("sending through %s resumed from the studio", provider)
    return RedirectResponse(f"/studio/?lifted={provider}", status_code=303)
