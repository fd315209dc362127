"""`ladder demo`: a Faker shop replayed through the real pipeline, then what it sent, summarised."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import Session

from models import migrate
from models.db import get_engine, session
from worker.canonical import CanonicalEvent
from worker.demo import replay
from worker.demo.broadcasting import schedule_broadcasts
from worker.demo.browse import write_index
from worker.demo.shop import HISTORY, generate
from worker.demo.summary import Run, print_report, print_summary
from worker.loyalty import codes
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT

VAR = Path("var")
DATABASE = VAR / "demo.db"
OUTBOX = VAR / "demo-outbox"  # its own: a real run's outbox is `var/outbox`
REPORT = "demo-report.html"  # beside the outbox
MEASUREMENT = VAR / "demo-measurement"  # the demo shop's ABC weights and acquisition spend
# What the demo's shop spent winning each customer, for CLV:CAC in its report (assumed).
SPEND_PER_NEW_CUSTOMER = Decimal("25.00")
WORKER_THREADS = 1


def run_demo(*, customers: int = 2000, seed: int = 7, console: Console | None = None) -> Run:
    """Replays a fresh shop into `var/demo.db` and `var/demo-outbox/`, both emptied first."""
    console = console or Console()
    started = time.monotonic()
    # The shop's history ends today, so that after the demo `ladder plan` and `explain` see
    # what is due next, not a shop whose simulated years ended months ago.
    today = datetime.now(UTC)
    start = (today - HISTORY - replay.TAIL).replace(hour=0, minute=0, second=0, microsecond=0)
    write_measurement(MEASUREMENT, customers=customers, start=start, end=today)
    with replay.embedded_runtime(DATABASE, OUTBOX, MEASUREMENT) as runtime:
        url = runtime.settings.database_url
        reset(url, DATABASE, OUTBOX)
        migrate.upgrade(url)
        runtime.triggers  # noqa: B018  (an invalid trigger file stops the demo now, named)
        with console.status(f"Building a shop of {customers} customers…"):
            events = list(generate(customers, seed=seed, start=start))
        with session(url) as db:
            schedule_broadcasts(db, runtime, now=start, end=today)
            stock_code_pools(db, customers, now=start)
        period = _replay_showing_progress(events, runtime, console, until=today)
        with session(url) as db:
            index, emails = write_index(db, runtime.settings.outbox_dir)
            elapsed = time.monotonic() - started
            run = Run(
                period.start, period.end, period.ticks, elapsed, index, emails, DATABASE, OUTBOX
            )
            print_summary(console, db, run)
            print_report(console, db, runtime.settings, page_to=OUTBOX.parent / REPORT)
        get_engine(url).dispose()
    return run


def stock_code_pools(db: Session, customers: int, *, now: datetime) -> None:
    """The codes the demo shop exported for each pool reward of the programme, as
    `ladder loyalty codes import` would add them: enough for every customer."""
    for reward in ("five-off", "birthday", "referral"):
        prefix = reward.upper().replace("-", "")
        found = [f"{prefix}-{number:05d}" for number in range(1, customers + 1)]
        codes.import_pool(db, reward, found, source="shopify", now=now)
    db.commit()


def write_measurement(folder: Path, *, customers: int, start: datetime, end: datetime) -> None:
    """The shipped ABC weights and ladder, two migration goals, and one acquisition period over
    the whole history whose spend is SPEND_PER_NEW_CUSTOMER for each customer the shop won
    (counted from first orders)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("abc.toml", "rungs.toml"):
        shutil.copyfile(PROJECT_ROOT / "measurement" / name, folder / name)
    # Two goals of the shipped kinds, in the demo's last months of orders (its last 70 days
    # have none: the win-backs' tail): one over, one running.
    ended, running = (end - timedelta(days=250)).date(), (end - timedelta(days=100)).date()
    (folder / "goals.toml").write_text(
        "# Written by `ladder demo`: the shipped goals, dated in the demo shop's last months.\n"
        f'[[goal]]\nname = "A second order from first-time buyers"\nfrom = "first_time"\n'
        f'to = "repeat"\nshare = 0.1\nstart = {ended}\nwithin = "90d"\n'
        'triggers = ["second-order"]\n\n'
        f'[[goal]]\nname = "Win back the at-risk"\nfrom = "at_risk"\nto = "loyal"\n'
        f'share = 0.12\nstart = {running}\nwithin = "180d"\ntriggers = ["win-back-at-risk"]\n',
        encoding="utf-8",
    )
    spend = SPEND_PER_NEW_CUSTOMER * customers
    (folder / "acquisition.toml").write_text(
        "# Written by `ladder demo`: the demo shop's marketing spend, "
        f"{SPEND_PER_NEW_CUSTOMER} per customer.\n[[period]]\n"
        f"start = {start.date()}\nend = {end.date()}\nspend = {spend}\n",
        encoding="utf-8",
    )


def reset(url: str, database: Path, outbox: Path) -> None:
    """Deletes the demo's database files and outbox, closing pooled connections to them first."""
    get_engine(url).dispose()
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    shutil.rmtree(outbox, ignore_errors=True)


def _replay_showing_progress(
    events: list[CanonicalEvent], runtime: Runtime, console: Console, *, until: datetime
) -> replay.Period:
    columns = (
        TextColumn("Replaying [bold]{task.fields[day]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    steps = (max(events[-1].occurred_at + replay.TAIL, until) - events[0].occurred_at) / replay.STEP
    with (
        Progress(*columns, console=console, transient=True) as progress,
        replay.private_broker(WORKER_THREADS) as broker,
        session(runtime.settings.database_url) as db,
    ):
        task = progress.add_task("", total=int(steps) + 2, day="")

        def advanced(at: datetime) -> None:
            progress.update(task, advance=1, day=f"{at:%Y-%m-%d}")

        return replay.replay(
            db, events, broker=broker, runtime=runtime, on_step=advanced, until=until
        )
