"""The demo's summary: what the replay did, read back from the database with GROUP BY queries."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select
from sqlmodel import Session, col

from models import (
    Customer,
    Delivery,
    DeliveryStatus,
    Event,
    EventStatus,
    LoyaltyEntry,
    LoyaltyMember,
    LoyaltyReward,
    Order,
)
from worker import current_time
from worker.authoring.report import SECTIONS, gather
from worker.demo.broadcasting import broadcasts_table, series_table
from worker.event_types import LOYALTY_EVENTS
from worker.settings import Settings

SENT = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
NOT_SENT = (
    DeliveryStatus.SKIPPED,
    DeliveryStatus.HELD_OUT,
    DeliveryStatus.SUPPRESSED,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.FAILED,
    DeliveryStatus.BOUNCED,
)
LOCALE_ORDER = ("en", "es", "de", "ru", "zh")
# Reasons name event ids and times; these rewrites leave the kind of reason, to group by.
_REASON_REWRITES = (
    (re.compile(r"\s*\(event \d+\)"), ""),
    # Cancelled when the newer event was processed: "order.placed at 2024-05-01 10:00".
    (re.compile(r"^([a-z_]+\.[a-z_]+) at \d{4}-\d\d-\d\d \d\d:\d\d$"), r"\1 came first"),
    (re.compile(r"was due \d{4}-\d\d-\d\d \d\d:\d\d, "), ""),
    (re.compile(r"\d{4}-\d\d-\d\dT?[ \d:.+]*"), "…"),
)


@dataclass(frozen=True)
class Run:
    start: datetime  # the simulated period
    end: datetime
    ticks: int  # clock ticks that had work to do
    elapsed_s: float  # wall time
    index: Path
    emails: int
    database: Path = Path("var/demo.db")
    outbox: Path = Path("var/demo-outbox")


def reason_kind(reason: str | None) -> str:
    """`order.placed (event 812) came first` → `order.placed came first`."""
    if not reason:
        return "(no reason recorded)"
    for pattern, replacement in _REASON_REWRITES:
        reason = pattern.sub(replacement, reason)
    return reason.strip()


def _count_by(db: Session, *columns: Any, where: Any = None) -> list[tuple[Any, ...]]:
    """(value, …, rows) for each combination of the columns' values, among rows `where` holds."""
    query = select(*columns, func.count()).group_by(*columns)
    if where is not None:
        query = query.where(where)
    return [tuple(row) for row in db.execute(query).all()]


def totals_table(db: Session) -> Table:
    table = Table(title="Totals", title_justify="left")
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_column("of which")
    consent = db.execute(
        select(func.count()).where(col(Customer.accepts_marketing).is_(True))
    ).scalar_one()
    customers = db.execute(select(func.count()).select_from(Customer)).scalar_one()
    table.add_row("customers", str(customers), f"{consent} accept marketing")
    # Events always show both outcomes: "0 failed" is news too.
    for title, model, always in (
        ("orders", Order, ()),
        ("events", Event, (EventStatus.PROCESSED, EventStatus.FAILED)),
        ("deliveries", Delivery, ()),
    ):
        by_status = dict.fromkeys(map(str, always), 0)
        by_status.update((str(status), count) for status, count in _count_by(db, col(model.status)))
        detail = ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))
        table.add_row(title, str(sum(by_status.values())), detail)
    return table


def triggers_table(db: Session) -> Table:
    rows = _count_by(db, col(Delivery.trigger), col(Delivery.status))
    statuses = sorted({str(status) for _, status, _ in rows}, key=_status_rank)
    table = Table(title="Triggers fired (a delivery row each)", title_justify="left")
    table.add_column("trigger", overflow="fold")  # broadcast:<name> stays whole
    table.add_column("fired", justify="right")
    for status in statuses:
        table.add_column(status, justify="right")
    for trigger in sorted({str(name) for name, _, _ in rows}):
        mine = {str(status): int(count) for name, status, count in rows if name == trigger}
        cells = [str(mine.get(status, 0)) for status in statuses]
        table.add_row(trigger, str(sum(mine.values())), *cells)
    return table


def _status_rank(status: str) -> int:
    """Sent first, then what is still on its way, then each reason for not sending."""
    order = [*SENT, DeliveryStatus.SCHEDULED, DeliveryStatus.SENDING, *NOT_SENT]
    return order.index(DeliveryStatus(status)) if status in order else len(order)


def sent_table(db: Session) -> Table:
    rows = _count_by(
        db,
        col(Delivery.message),
        col(Delivery.segment),
        col(Customer.locale),
        where=(col(Customer.id) == col(Delivery.customer_id)) & col(Delivery.status).in_(SENT),
    )
    counts: Counter[tuple[str, str, str]] = Counter()
    for message, segment, locale, count in rows:
        counts[(message, segment or "-", locale or "-")] += count
    locales = sorted({key[2] for key in counts}, key=_locale_rank)
    table = Table(
        title="Emails sent by message, segment (when sent) and locale",
        title_justify="left",
    )
    for column in ("message", "segment", *locales, "total"):
        table.add_column(column, justify="left" if column in ("message", "segment") else "right")
    for message, segment in sorted({key[:2] for key in counts}):
        cells = [counts[(message, segment, locale)] for locale in locales]
        table.add_row(message, segment, *(str(n or "") for n in cells), str(sum(cells)))
    table.add_section()
    totals = [sum(n for key, n in counts.items() if key[2] == locale) for locale in locales]
    table.add_row("all", "", *(str(n) for n in totals), str(sum(totals)), style="bold")
    return table


def _locale_rank(locale: str) -> tuple[int, str]:
    known = LOCALE_ORDER.index(locale) if locale in LOCALE_ORDER else len(LOCALE_ORDER)
    return known, locale


def not_sent_table(db: Session) -> Table:
    rows = _count_by(
        db,
        col(Delivery.status),
        col(Delivery.trigger),
        col(Delivery.reason),
        where=col(Delivery.status).in_(NOT_SENT),
    )
    kinds: Counter[tuple[str, str, str]] = Counter()
    for status, trigger, reason, count in rows:
        kinds[(str(status), trigger, reason_kind(reason))] += count
    table = Table(title="Not sent, and why", title_justify="left")
    for column in ("status", "trigger", "why"):
        table.add_column(column)
    table.add_column("deliveries", justify="right")
    for (status, trigger, kind), count in sorted(
        kinds.items(), key=lambda item: (_status_rank(item[0][0]), item[0][1], -item[1])
    ):
        table.add_row(status, trigger, Text(kind), str(count))
    return table


def loyalty_table(db: Session) -> Table | None:
    """The programme's year in numbers: points by kind of entry, members by tier, tier moves
    and the emails the programme's events sent; None when no one earned anything."""
    by_kind = _count_by(db, col(LoyaltyEntry.kind))
    if not by_kind:
        return None
    sums = {
        kind: (int(points or 0), int(pending or 0))
        for kind, points, pending in db.execute(
            select(
                col(LoyaltyEntry.kind),
                func.sum(LoyaltyEntry.points),
                func.sum(LoyaltyEntry.pending),
            ).group_by(col(LoyaltyEntry.kind))
        )
    }
    table = Table(title="Loyalty programme", title_justify="left")
    for column in ("what", "rows", "to spend", "pending"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for kind, count in sorted(by_kind):
        points, pending = sums.get(kind, (0, 0))
        table.add_row(f"ledger: {kind}", str(count), f"{points:+d}", f"{pending:+d}")
    balances = db.execute(
        select(func.sum(LoyaltyMember.points), func.sum(LoyaltyMember.pending))
    ).one()
    table.add_row("members' balances", "", str(balances[0] or 0), str(balances[1] or 0))
    for tier, count in sorted(_count_by(db, col(LoyaltyMember.tier)), key=lambda r: -r[1]):
        table.add_row(f"members in {tier or '-'}", str(count))
    moves = db.execute(select(col(Event.payload)).where(col(Event.type) == "tier.changed"))
    directions = Counter(str(payload.get("data", {}).get("direction")) for (payload,) in moves)
    for direction in ("up", "down"):
        table.add_row(f"tier moves {direction}", str(directions[direction]))
    sent = db.execute(
        select(func.count())
        .select_from(Delivery)
        .join(Event, col(Event.id) == col(Delivery.cause_event_id))
        .where(col(Event.type).in_(LOYALTY_EVENTS), col(Delivery.status).in_(SENT))
    ).scalar_one()
    table.add_row("loyalty emails sent", str(sent))
    states = db.execute(
        select(col(LoyaltyReward.reward), col(LoyaltyReward.state), func.count())
        .group_by(col(LoyaltyReward.reward), col(LoyaltyReward.state))
        .order_by(col(LoyaltyReward.reward), col(LoyaltyReward.state))
    )
    for reward, state, count in states:
        table.add_row(f"rewards {reward}: {state}", str(count))
    return table


def print_summary(console: Console, db: Session, run: Run) -> None:
    console.rule("[bold]Ladder demo")
    tables = [totals_table(db), triggers_table(db), broadcasts_table(db), series_table(db)]
    for table in (*tables, sent_table(db), not_sent_table(db), loyalty_table(db)):
        if table is not None:
            console.print(table)
    days = (run.end - run.start).days
    period = f"{run.start:%Y-%m-%d} → {run.end:%Y-%m-%d} ({days} days, {run.ticks} clock ticks)"
    console.print(f"Simulated {period} in {run.elapsed_s:.1f} s of wall time.")
    console.print(f"Browse the {run.emails} emails sent: [bold]{run.index}[/bold]")
    console.print(look_around(db, run), highlight=False, soft_wrap=True)


def print_report(console: Console, db: Session, settings: Settings, *, page_to: Path) -> None:
    """`ladder report`'s tables for the whole run (what the emails earned, what holdouts say),
    printed and written as one page (`ladder report --html`) to `page_to`."""
    console.rule("[bold]What the emails earned (ladder report)")
    today = current_time.now()
    found = gather(db, settings, SECTIONS, day=today.date(), since=None, until=None, now=today)
    for renderable in found.tables():
        console.print(renderable)
    page_to.write_text(found.page(f"{settings.shop_name}: the demo's report"), "utf-8")
    console.print(f"The report as one page: [bold]{page_to}[/bold]")


def look_around(db: Session, run: Run) -> str:
    """What to type to see the demo's shop with the other commands: they read `var/ladder.db`
    unless told otherwise, which the demo leaves alone."""
    someone = db.scalar(
        select(col(Customer.email))
        .join(Delivery, col(Delivery.customer_id) == Customer.id)
        .where(col(Delivery.status) == DeliveryStatus.SENT)
        .order_by(col(Delivery.sent_at).desc())
        .limit(1)
    )
    return (
        "To look around the demo's shop with the other commands, point them at its database:\n"
        f"  export DATABASE_URL=sqlite:///{run.database} OUTBOX_DIR={run.outbox}\n"
        f"  ladder status; ladder plan; ladder explain {someone or 'EMAIL'}"
    )
