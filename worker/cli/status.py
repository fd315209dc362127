"""`ladder status`, `ladder sending …`, `ladder inbox replay`, `ladder segments refresh`: what
an operator looks at and the levers beside it."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from models.db import session
from worker import current_time
from worker.authoring.status import status_report
from worker.cli.output import console, table
from worker.delivery import feedback, pauses
from worker.intake import inbox
from worker.measurement import rungs
from worker.queue import dispatch, heartbeats
from worker.queue.clock import LEADER_LEASE, refresh_segments
from worker.runtime import get_runtime
from worker.settings import get_settings

sending_app = typer.Typer(help="The email provider: pause and resume.", no_args_is_help=True)
inbox_app = typer.Typer(help="Webhook deliveries as the platforms sent them.", no_args_is_help=True)
segments_app = typer.Typer(help="RFM segments.", no_args_is_help=True)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """Events and deliveries by state, and what is stuck."""
    settings = get_settings()
    now = current_time.now()
    with session(settings.database_url) as db:
        report = status_report(db, now=now, settings=settings)
        report["clock"] = heartbeats.leader(db, LEADER_LEASE, now=now)
        report["processes"] = heartbeats.processes(db, now=now)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    for name in ("inbox", "events", "deliveries"):
        states = table(name, ("state", "rows"), right={"rows"})
        for state, count in report[name].items():
            states.add_row(state, str(count))
        console.print(states)
    stuck = table("stuck (should be 0 while a clock runs)", ("what", "rows", "oldest"))
    for what, item in report["stuck"].items():
        style = "red" if item["count"] else ""
        stuck.add_row(what, str(item["count"]), item["oldest"] or "-", style=style)
    console.print(stuck)
    for pause in report["sending_paused"]:
        console.print(
            f"[red]Sending through {pause['provider']} is paused[/red] since {pause['since']}: "
            f"{pause['reason']}. The next delivery after {pause['probe_at']} tries again; "
            "`ladder sending resume` tries now."
        )
    _print_processes(report["clock"], report["processes"])
    _print_inbox_unused(report["inbox_unused"])
    _print_conditions_failed(report["conditions_failed"])
    for job in report["jobs_asked_for"]:
        waiting = job["waiting_for_events"]
        when = (
            f"once the {waiting:,} events received before then are processed"
            if waiting
            else "on the clock's next tick (is a clock running?)"
        )
        asked = datetime.fromisoformat(job["asked_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
        console.print(f"{job['job']} asked for at {asked}: runs {when}.", highlight=False)


def _print_processes(clock: dict[str, Any], processes: list[dict[str, Any]]) -> None:
    if clock["leading"]:
        console.print(f"clock: {clock['holder']} leads (lease until {clock['until']})")
    else:
        console.print(
            "[red]ALERT: no clock leads[/red]: nothing relays waiting rows or runs the daily "
            "jobs. Start `ladder clock` (the Procfile's clock process)."
        )
    shown = table("processes (a beat every 10 s)", ("kind", "process", "last beat", "state"))
    for item in processes:
        state, style = ("alive", "") if item["alive"] else ("stopped", "red")
        shown.add_row(item["kind"], item["process"] or "-", item["last_beat"] or "-", state,
                      style=style)  # fmt: skip
    console.print(shown)


def _print_conditions_failed(failed: list[dict[str, Any]]) -> None:
    if not failed:
        return
    title = "deliveries failed by a trigger's condition (fix it, then `ladder check`)"
    shown = table(title, ("trigger", "rows", "reason"), right={"rows"})
    for item in failed:
        shown.add_row(item["trigger"], str(item["count"]), item["reason"], style="red")
    console.print(shown)


def _print_inbox_unused(unused: list[dict[str, Any]]) -> None:
    if not unused:
        return
    columns = ("source", "topic", "state", "rows", "reason")
    kept = table("webhooks kept but not used (`ladder inbox replay` after a fix)", columns)
    for item in unused:
        style = "red" if item["status"] == "failed" else ""
        row = (item["source"], item["topic"], item["status"], item["count"], item["reason"] or "")
        kept.add_row(*(str(value) for value in row), style=style)
    console.print(kept)


@sending_app.command("resume")
def sending_resume() -> None:
    """Lift a sending pause (after fixing the API key): deliveries go out on the next tick."""
    with session(get_settings().database_url) as db:
        lifted = pauses.resume(db, now=current_time.now())
    console.print("sending resumed" if lifted else "sending was not paused")


@sending_app.command("replay-events")
def sending_replay_events() -> None:
    """Apply the provider events that were stored but not applied (see `ladder status`)."""
    settings = get_settings()
    with session(settings.database_url) as db:
        ids = feedback.unapplied_ids(db)
        applied = feedback.apply_stored(db, ids, now=current_time.now(), settings=settings)
    console.print(f"applied {applied} of {len(ids)} stored provider events")


@inbox_app.command("replay")
def inbox_replay(
    failed: Annotated[bool, typer.Option("--failed", help="only failed, not ignored")] = False,
    topic: Annotated[str | None, typer.Option(help="only this topic, e.g. orders/create")] = None,
) -> None:
    """Normalise failed and ignored webhook deliveries again, after a fix."""
    now = current_time.now()
    with session(get_settings().database_url) as db:
        ids = inbox.reopen(
            db, only_failed=failed, topic=topic, enqueued_at=dispatch.enqueue_at(now)
        )
        dispatch.inbox(db, ids)
    console.print(f"{len(ids)} deliveries back to pending, handed to the worker")


@segments_app.command("refresh")
def segments_refresh() -> None:
    """Recompute RFM scores and segments now, then the rungs of the ladder."""
    runtime = get_runtime()
    with session(runtime.settings.database_url) as db:
        counts, _ = refresh_segments(db, now=current_time.now(), runtime=runtime)
        scheme = runtime.rung_scheme
        on_rungs = rungs.counts(db) if scheme is not None else {}
    shown = table("customers by segment", ("segment", "customers"), right={"customers"})
    for name, count in sorted(counts.items(), key=lambda item: -item[1]):
        shown.add_row(name, str(count))
    console.print(shown)
    if scheme is not None:
        ladder = table("customers by rung", ("rung", "customers"), right={"customers"})
        for name in reversed([*scheme.line, *scheme.beside]):
            ladder.add_row(name, str(on_rungs.get(name, 0)))
        console.print(ladder)
