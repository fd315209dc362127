"""An imported history processed in this process (no workers to hand it to): every pending
event, oldest first, in batches, with a progress bar; then the segments scored from the facts
it left, so a customer lapsing today has the right segment when their wait ends."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlmodel import Session, col, func, select

from models import Delivery, DeliveryStatus, Event, EventStatus
from models.db import session
from worker import current_time
from worker.processing import events
from worker.queue.actors import EVENT_BATCH
from worker.queue.clock import refresh_segments
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler


@dataclass
class HistoryReport:
    processed: int = 0
    failed: int = 0
    seconds: float = 0.0
    segments: dict[str, int] = field(default_factory=dict)
    scheduled: int = 0  # deliveries waiting at the end: the waits the history left running

    def describe(self) -> str:
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        scored = ", ".join(f"{name} {n:,}" for name, n in sorted(self.segments.items()))
        return (
            f"Processed {self.processed:,} events in {self.seconds:.1f} s ({rate:,.0f} events/s;"
            f" {self.failed:,} failed, reasons in `ladder status`). Segments: {scored or '-'}. "
            f"{self.scheduled:,} deliveries scheduled; those whose moment had passed were "
            "skipped, never sent late."
        )


def process_here(runtime: Runtime, *, console: Console) -> HistoryReport:
    """Processes every pending event, oldest first, then refreshes the segments and processes
    the moves that gives (their own events). Returns what it did."""
    report, started = HistoryReport(), time.monotonic()
    settings = runtime.settings
    scheduler = Scheduler(
        runtime.triggers, settings, programme=runtime.programme, rungs=runtime.rung_scheme
    )
    with session(settings.database_url) as db:
        _process_pending(db, scheduler, report, console=console)
        # Days since the last order, as of today.
        report.segments, _ = refresh_segments(db, now=current_time.now(), runtime=runtime)
        _process_pending(db, scheduler, report, console=console)  # the segment moves
        report.scheduled = int(
            db.scalar(select(func.count()).where(col(Delivery.status) == DeliveryStatus.SCHEDULED))
            or 0
        )
    report.seconds = time.monotonic() - started
    return report


def _process_pending(
    db: Session, scheduler: Scheduler, report: HistoryReport, *, console: Console
) -> None:
    pending = (col(Event.status) == EventStatus.PENDING,)
    ids: list[int] = list(
        db.scalars(
            select(col(Event.id)).where(*pending).order_by(col(Event.occurred_at), col(Event.id))
        )
    )
    if not ids:
        return
    columns = (
        TextColumn("[bold]processing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=len(ids))
        for start in range(0, len(ids), EVENT_BATCH):
            batch = ids[start : start + EVENT_BATCH]
            done = events.process_many(db, batch, now=current_time.now(), scheduler=scheduler)
            report.processed += len(batch) - len(done.failed)
            report.failed += len(done.failed)
            progress.advance(task, len(batch))
