"""Claiming deliveries: the compare-and-set `scheduled → sending`, alone or for a batch, the
rows a claimed delivery is about, loaded in one query, and the stamp of a request leaving."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache, partial
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, Text, bindparam, exists, select, true, tuple_, update
from sqlalchemy import cast as sql_cast
from sqlmodel import Session

from models import Customer, Delivery, DeliveryStatus, Event, Order
from models.states import DELIVERY
from models.tables import CUSTOMERS, DELIVERIES, EVENTS, ORDERS, PREFERENCES, SUPPRESSIONS
from models.types import UTCDateTime, one_of
from worker.metrics import counters
from worker.processing.orders import OrderLines
from worker.processing.preferences import MESSAGE_CLASSES
from worker.rendering.variables import LazyMapping

S = DeliveryStatus
logger = logging.getLogger(__name__)


@dataclass
class Batch:
    """What `deliver_many` knows across its deliveries, passed to each `deliver`.

    Claimed together (`claim_many`, for an idempotent provider): the rows not yet sent, the
    rows they are about, their order lines, the budget's candidates and the finishes to write
    at the end (`end`); whether it met a rate limit or a pause.
    """

    claimed: bool = False
    ids: frozenset[int] = frozenset()
    unsent: dict[int, Any] = field(default_factory=dict)  # delivery id → claimed row
    customers: frozenset[int] = frozenset()  # theirs
    loaded: dict[int, Any] = field(default_factory=dict)  # delivery id → row of `_load`
    lines: OrderLines = field(default_factory=OrderLines)
    budget: dict[int, frozenset[int]] | None = None  # see `eligibility.budget_candidates`
    # (status, value names) → parameters of each finish, written in one executemany a kind
    finishing: dict[tuple[S, tuple[str, ...]], list[dict[str, Any]]] = field(default_factory=dict)
    # The same finishes by delivery: id → the status it will have (kept as they are added:
    # read at every decision, built afresh it cost a batch time in the square of its size).
    settling: dict[int, str] = field(default_factory=dict)
    # Set by a rate-limited refusal: when the provider takes requests again. The batch stops.
    limited_until: datetime | None = None
    paused: bool = False  # a refusal of our credentials paused sending: start no more requests

    def settled(self) -> Mapping[int, str]:
        """Deliveries already decided whose rows still read `sending` until `end` writes them:
        delivery id → the status they will have."""
        return self.settling

    def settle(self, status: S, names: tuple[str, ...], parameters: dict[str, Any]) -> None:
        """Holds a finish for the batch's next write."""
        self.finishing.setdefault((status, names), []).append(parameters)
        self.settling[parameters["delivery_id"]] = status.value


def claim(
    db: Session, delivery_id: int, now: datetime, batch: Batch | None = None
) -> Delivery | None:
    """Moves a due delivery from scheduled to sending and returns it. None if another worker got
    there first, it was cancelled meanwhile, or it is not due yet.

    The row comes back as read (attributes as on `Delivery`), not tracked by the session.
    One the batch claimed already is returned without a statement."""
    if batch is not None and delivery_id in batch.unsent:
        return cast(Delivery, batch.unsent.pop(delivery_id))
    delivery = db.execute(_claim(), {"delivery_id": delivery_id, "now": now}).one_or_none()
    db.commit()
    return cast(Delivery | None, delivery)


@lru_cache(maxsize=2)
def _claim(many: bool = False) -> Any:
    c = DELIVERIES.c
    which = one_of(c.id, "ids") if many else c.id == bindparam("delivery_id")
    now = bindparam("now", type_=UTCDateTime())
    return (
        DELIVERY.update(S.SCHEDULED, S.SENDING, which, c.send_at <= now)
        .values(claimed_at=now, attempts=c.attempts + 1, requested_at=None)
        .returning(*DELIVERIES.c)
    )


def finish(
    db: Session,
    delivery_id: int,
    status: DeliveryStatus,
    batch: Batch | None = None,
    **values: object,
) -> bool:
    """Moves a claimed delivery out of sending. False if it was no longer ours (the clock gave
    up its claim meanwhile).

    For a delivery the batch claimed the write waits, and the answer is True: `write` or `end`
    writes it with the batch's others. With an idempotent provider a crash before the write
    costs a harmless second send when the clock releases the claim; with one that is not, the
    batch writes what it was answered before its next wave leaves or within a moment
    (`batches.WRITE_WITHIN_S`), so a crash leaves few answers unknown.
    """
    _log_decision(delivery_id, status, values.get("reason"))
    counters.DELIVERIES_DECIDED.labels(status.value).inc()
    names = tuple(sorted(values))
    parameters = {f"v_{name}": value for name, value in values.items()}
    parameters["delivery_id"] = delivery_id
    if batch is not None and delivery_id in batch.ids:
        batch.settle(status, names, parameters)
        return True
    result = db.execute(_finish(status, names), parameters)
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def _log_decision(delivery_id: int, status: DeliveryStatus, reason: object) -> None:
    """One line a delivery decided (sent, failed, held, put back), ids and the reason only."""
    fields = {"delivery_id": delivery_id, "status": status.value}
    if reason:
        fields["reason"] = str(reason)  # a provider's words: scrubbed like every field
    logger.info("delivery %d %s", delivery_id, status.value, extra=fields)


@lru_cache(maxsize=64)
def _finish(status: DeliveryStatus, names: tuple[str, ...]) -> Any:
    c = DELIVERIES.c
    return DELIVERY.update(
        S.SENDING,
        status,
        c.id == bindparam("delivery_id"),
        **{name: bindparam(f"v_{name}", type_=c[name].type) for name in names},
    )


def request(db: Session, delivery: Delivery, now: datetime) -> bool:
    """Records, and commits, that this claim's request to the provider is about to leave.
    False if the claim is no longer ours (the clock released it meanwhile): send nothing.

    Called only for a provider that is not idempotent, right before its request: a row found
    `sending` without this was never handed over, and the clock sends it again safely.
    Its commit also ends the read transaction, so no lock is held while the provider answers.
    """
    result = db.execute(
        _request(), {"delivery_id": delivery.id, "attempt": delivery.attempts, "now": now}
    )
    db.commit()
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


@cache
def _request() -> Any:
    c = DELIVERIES.c
    # The claim's own attempt: a claim released and taken again by another worker is not ours.
    return (
        update(DELIVERIES)
        .where(
            c.id == bindparam("delivery_id"),
            c.status == S.SENDING.value,
            c.attempts == bindparam("attempt"),
        )
        .values(requested_at=bindparam("now", type_=UTCDateTime()))
    )


def request_many(db: Session, deliveries: Sequence[Any], now: datetime) -> set[int]:
    """`request` for several claims at once, in one statement: returns the ids still ours,
    whose requests may now leave."""
    if not deliveries:
        return set()
    claims = [(row.id, row.attempts) for row in deliveries]
    found = db.execute(_request_many(), {"claims": claims, "now": now}).scalars().all()
    db.commit()
    return set(found)


@cache
def _request_many() -> Any:
    c = DELIVERIES.c
    return (
        update(DELIVERIES)
        .where(
            c.status == S.SENDING.value,
            tuple_(c.id, c.attempts).in_(bindparam("claims", expanding=True)),
        )
        .values(requested_at=bindparam("now", type_=UTCDateTime()))
        .returning(c.id)
    )


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery with the rows it is about."""

    delivery: Delivery
    customer: Customer
    cause: Event
    order: Order | None
    suppressed: bool  # the address is on the suppression list
    opted_out: frozenset[str]  # the message classes the customer said no to


def load(db: Session, delivery: Delivery, batch: Batch | None = None) -> Claimed:
    """The customer, the cause event, its order, the suppression check and the customer's
    preferences in one query (none if the batch loaded them with the claim)."""
    row = batch.loaded.get(delivery.id) if batch is not None else None  # type: ignore[arg-type]
    if row is None:
        row = db.execute(_load(), {"delivery_ids": [delivery.id]}).one()
    customer = _record(row, CUSTOMERS, 0)
    cause = _record(row, EVENTS, len(CUSTOMERS.c))
    cause.payload = LazyMapping(partial(json.loads, cause.payload))  # read as text: see _load
    order = _record(row, ORDERS, len(CUSTOMERS.c) + len(EVENTS.c))
    flags = row[len(CUSTOMERS.c) + len(EVENTS.c) + len(ORDERS.c) : -1]  # the delivery id last
    return Claimed(
        delivery,
        cast(Customer, customer),
        cast(Event, cause),
        cast(Order | None, order if order.id is not None else None),
        bool(flags[0]),
        frozenset(name for name, out in zip(MESSAGE_CLASSES, flags[1:], strict=True) if out),
    )


def _record(row: Any, table: Table, start: int) -> SimpleNamespace:
    """One table's columns out of a joined row: it reads like the model."""
    return SimpleNamespace(
        **dict(zip(table.c.keys(), row[start : start + len(table.c)], strict=True))
    )


@cache
def _load() -> Any:
    suppressed = exists().where(SUPPRESSIONS.c.email == CUSTOMERS.c.email)
    p = PREFERENCES.c
    opted_out = [
        exists()
        .where(p.customer_id == CUSTOMERS.c.id, p.message_class == name, p.opted_out.is_(true()))
        .label(f"opted_out_{name}")
        for name in MESSAGE_CLASSES
    ]
    d = DELIVERIES.c
    # The cause's payload as text, decoded only if a template reads `event.data`: it is the
    # whole normalised event, and decoding every one took 6 % of a worker's time an email.
    cause = [sql_cast(c, Text).label(c.name) if c is EVENTS.c.payload else c for c in EVENTS.c]
    # The customer through the delivery, not its cause: a broadcast's run has one cause event
    # for all its deliveries, which names no customer.
    return (
        select(*CUSTOMERS.c, *cause, *ORDERS.c, suppressed.label("suppressed"), *opted_out, d.id)
        .select_from(DELIVERIES)
        .join(CUSTOMERS, CUSTOMERS.c.id == d.customer_id)
        .join(EVENTS, EVENTS.c.id == d.cause_event_id)
        .outerjoin(ORDERS, ORDERS.c.id == EVENTS.c.order_id)
        .where(one_of(d.id, "delivery_ids"))
    )


def claim_many(db: Session, delivery_ids: Sequence[int], now: datetime, batch: Batch) -> None:
    """Claims the due deliveries among `delivery_ids` at once, each by its own compare-and-set,
    and loads their rows into `batch`, for `claim` and `load` to serve as `deliver` asks.

    Only for an idempotent provider (see `finish`). Call `end` when done: it writes the
    finishes and puts whatever `deliver` did not take back to scheduled.
    """
    batch.claimed = True
    rows = db.execute(_claim(many=True), {"ids": list(delivery_ids), "now": now}).all()
    db.commit()
    batch.ids = frozenset(row.id for row in rows)
    batch.unsent = {row.id: row for row in rows}
    batch.customers = frozenset(row.customer_id for row in rows)
    if not batch.ids:
        return
    batch.loaded = {
        row[-1]: row for row in db.execute(_load(), {"delivery_ids": sorted(batch.ids)})
    }
    at = len(CUSTOMERS.c) + len(EVENTS.c)  # where the order's columns start, its id first
    batch.lines.preload(db, [row[at] for row in batch.loaded.values() if row[at] is not None])
    db.commit()  # End the read transaction.


def write(db: Session, batch: Batch, *, also: Sequence[int] = ()) -> None:
    """Writes the finishes the batch holds so far, in the caller's transaction (it commits),
    and forgets them; the batch goes on. `also`: rows the caller writes next in the same
    transaction, locked with them in id order."""
    written = [row["delivery_id"] for kind in batch.finishing.values() for row in kind]
    if not written:
        return
    # Lock the rows in id order first: the writes below then wait for no one, and a batch
    # never holds one row while waiting for another (no deadlock with the clock).
    db.execute(_lock(), {"ids": sorted({*written, *also})}).all()
    for (status, names), parameters in batch.finishing.items():
        db.execute(_finish(status, names), parameters)  # one executemany per kind of finish
    batch.finishing.clear()
    batch.settling.clear()


def end(db: Session, batch: Batch) -> None:
    """Writes a claimed batch's finishes and releases what it did not send."""
    if not batch.claimed:
        return
    db.rollback()
    unsent = sorted(batch.unsent)
    if batch.finishing:
        write(db, batch, also=unsent)
    elif unsent:
        db.execute(_lock(), {"ids": unsent}).all()
    if unsent:
        db.execute(_release(), {"ids": unsent})
    db.commit()


@cache
def _lock() -> Any:
    c = DELIVERIES.c
    return select(c.id).where(one_of(c.id, "ids")).order_by(c.id).with_for_update()


@cache
def _release() -> Any:
    return DELIVERY.update(
        S.SENDING,
        S.SCHEDULED,
        one_of(DELIVERIES.c.id, "ids"),
        reason="released: its batch stopped early",
    )


def postpone(db: Session, delivery_ids: Sequence[int], *, until: datetime) -> int:
    """Moves the due time of those of `delivery_ids` still `scheduled` and due before `until`
    to `until`, and leaves them to the clock's relay (`enqueued_at` NULL): what a rate-limited
    batch had no turn for. Not a move of state: a row claimed or cancelled meanwhile is left
    alone. Returns how many."""
    c = DELIVERIES.c
    result = db.execute(
        update(DELIVERIES)
        # Never earlier: a row in the batch not yet due keeps its own time.
        .where(c.id.in_(list(delivery_ids)), c.status == S.SCHEDULED.value, c.send_at < until)
        .values(send_at=until, enqueued_at=None)
    )
    db.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
