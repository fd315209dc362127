"""What each trigger's emails did, per trigger, segment, variant, language: how many were
planned, held out, sent and read, what they earned (their attributed orders, net of refunds
and cancellations), and the unsubscribes, bounces and complaints they met."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlmodel import Session

from models import DeliveryStatus
from models.db import index_lookups
from models.orders import UNCOUNTED_STATUSES
from models.tables import (
    ATTRIBUTIONS,
    CUSTOMERS,
    DELIVERIES,
    ORDERS,
    PREFERENCES,
    PROVIDER_EVENTS,
)

S = DeliveryStatus
SENT = (S.SENT, S.DEFERRED, S.DELIVERED, S.OPENED, S.CLICKED, S.BOUNCED, S.DROPPED)
DELIVERED = (S.DELIVERED, S.OPENED, S.CLICKED)
OPENED = (S.OPENED, S.CLICKED)
UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe")
# Opt-outs a customer made by a link in an email: credited to the last one they were sent.
LINK_SOURCES = ("unsubscribe_link", "preferences_page")

Key = tuple[str, str, str, str]  # trigger, segment, variant, language


@dataclass
class Line:
    """One trigger, segment, variant, language; revenue in minor units of the shop's
    currency."""

    trigger: str
    segment: str
    variant: str
    language: str
    scheduled: int = 0
    held_out: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    revenue: int = 0
    unsubscribes: int = 0
    bounces: int = 0
    complaints: int = 0
    dropped: int = 0  # the provider would not send it (kept apart from bounces)

    @property
    def recipients(self) -> int:
        """Sent and neither bounced nor dropped: who can have read it."""
        return self.sent - self.bounces - self.dropped

    @property
    def revenue_per_recipient(self) -> float:
        return self.revenue / self.recipients if self.recipients else 0.0

    def as_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["revenue_per_recipient"] = round(self.revenue_per_recipient, 2)
        return shown


def net_revenue() -> Any:
    """An order's worth now: its total in the shop's currency less its refunds; nothing once
    cancelled or refunded in full."""
    o = ORDERS.c
    return case(
        (o.status.in_([s.value for s in UNCOUNTED_STATUSES]), literal(0)),
        else_=o.shop_total - o.shop_refunded,
    )


def performance(
    db: Session,
    *,
    since: datetime | None,
    until: datetime | None,
    default_locale: str,
) -> list[Line]:
    """The lines for deliveries due in [since, until) (`send_at`: when each went or would have
    gone), sorted by trigger then by revenue. Orders count whenever they came, within the
    emails' windows.

    Three statements, each grouped by the line's keys: the deliveries counted by status (one
    scan of them and of the customers, no other join), then what the attributed deliveries
    earned and the provider's complaints and unsubscribes, each starting from its few rows
    and looking their deliveries and customers up by key. One statement left-joining both to
    every delivery took 8-9 s at two million emails, most of it hashing ten million orders to
    find the attributed ones and carrying every delivery through three joins."""
    d, c = DELIVERIES.c, CUSTOMERS.c
    period = _period(d.send_at, since, until)
    language = func.lower(func.coalesce(c.locale, default_locale))
    keys = (
        d.trigger,
        func.coalesce(d.segment, "-"),
        func.coalesce(d.variant, "-"),
        language,
    )
    chosen = (d.status != S.SKIPPED.value, *period)
    lines: dict[Key, Line] = {}
    counted = (
        select(*keys, d.status, func.count())
        .join(CUSTOMERS, c.id == d.customer_id)
        .where(*chosen)
        .group_by(*keys, d.status)
    )
    for *key_row, status, count in db.execute(counted):
        key = _key(key_row)
        _count_status(lines.setdefault(key, Line(*key)), str(status), int(count))
    earned = (
        select(ATTRIBUTIONS.c.delivery_id, func.sum(net_revenue()).label("revenue"))
        .join(ORDERS, ORDERS.c.id == ATTRIBUTIONS.c.order_id)
        .group_by(ATTRIBUTIONS.c.delivery_id)
        .subquery()
    )
    p = PROVIDER_EVENTS.c
    told = (
        select(
            *keys,
            _count(p.type.in_(UNSUBSCRIBE_EVENTS)),
            _count(p.type == "spamreport"),
        )
        .select_from(PROVIDER_EVENTS)
        .join(DELIVERIES, d.id == p.delivery_id)
        .join(CUSTOMERS, c.id == d.customer_id)
        .where(p.type.in_((*UNSUBSCRIBE_EVENTS, "spamreport")), *chosen)
        .group_by(*keys)
    )
    with index_lookups(db):
        for *key_row, converted, revenue in db.execute(
            select(
                *keys, _count(earned.c.revenue > 0), func.coalesce(func.sum(earned.c.revenue), 0)
            )
            .select_from(earned)
            .join(DELIVERIES, d.id == earned.c.delivery_id)
            .join(CUSTOMERS, c.id == d.customer_id)
            .where(*chosen)
            .group_by(*keys)
        ):
            line = lines[_key(key_row)]
            line.converted, line.revenue = int(converted), int(revenue)
        for *key_row, unsubscribes, complaints in db.execute(told):
            line = lines[_key(key_row)]
            line.unsubscribes, line.complaints = int(unsubscribes), int(complaints)
    for key, count in _link_unsubscribes(db, since, until, language).items():
        if key in lines:
            lines[key].unsubscribes += count
    return sorted(lines.values(), key=lambda line: (line.trigger, -line.revenue, line.segment))


def _key(row: Sequence[Any]) -> Key:
    return (str(row[0]), str(row[1]), str(row[2]), str(row[3]))


def _count_status(line: Line, status: str, count: int) -> None:
    """`count` deliveries in `status` added to each of the line's counts that status is in."""
    line.scheduled += count
    line.held_out += count if status == S.HELD_OUT.value else 0
    line.sent += count if status in SENT else 0
    line.delivered += count if status in DELIVERED else 0
    line.opened += count if status in OPENED else 0
    line.clicked += count if status == S.CLICKED.value else 0
    line.bounces += count if status == S.BOUNCED.value else 0
    line.dropped += count if status == S.DROPPED.value else 0


def by_trigger(lines: list[Line]) -> list[Line]:
    """The lines added up per trigger (segment, variant and language all "*")."""
    totals: dict[str, Line] = {}
    for line in lines:
        total = totals.setdefault(line.trigger, Line(line.trigger, "*", "*", "*"))
        for name in _COUNTS:
            setattr(total, name, getattr(total, name) + getattr(line, name))
    return sorted(totals.values(), key=lambda line: (-line.revenue, line.trigger))


_COUNTS = (
    "scheduled",
    "held_out",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "revenue",
    "unsubscribes",
    "bounces",
    "complaints",
    "dropped",
)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _period(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    where = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def _link_unsubscribes(
    db: Session, since: datetime | None, until: datetime | None, language: Any
) -> dict[Key, int]:
    """Opt-outs by a link, each credited to the last email of its class sent before it."""
    d, p, c = DELIVERIES.c, PREFERENCES.c, CUSTOMERS.c
    last = (
        select(d.id)
        .where(
            d.customer_id == p.customer_id,
            d.message_class == p.message_class,
            d.sent_at <= p.changed_at,
        )
        .order_by(d.sent_at.desc(), d.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    credited = (
        select(p.customer_id, last.label("delivery_id"))
        .where(p.opted_out.is_(True), p.source.in_(LINK_SOURCES))
        .subquery()
    )
    statement = (
        select(
            d.trigger,
            func.coalesce(d.segment, "-"),
            func.coalesce(d.variant, "-"),
            language,
            func.count(),
        )
        .join(credited, and_(credited.c.delivery_id == d.id))
        .join(CUSTOMERS, c.id == d.customer_id)
        .where(*_period(d.send_at, since, until))
        .group_by(d.trigger, d.segment, d.variant, language)
    )
    counts: dict[Key, int] = defaultdict(int)
    for trigger, segment, variant, lang, count in db.execute(statement):
        counts[(str(trigger), str(segment), str(variant), str(lang))] += int(count)
    return counts
