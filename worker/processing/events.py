"""`process`: claim stored events and apply them (customers, orders, facts), one transaction a
batch; for each applied event the caller's `Scheduler` (`scheduling.matching`) cancels and
starts deliveries."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import bindparam, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from models import Customer, EventStatus, Order
from models.states import EVENT
from models.tables import EVENTS
from models.types import one_of
from triggers.programme import Programme
from worker.canonical import CanonicalEvent, describe_errors
from worker.errors import NOT_THE_ROWS_FAULT, PermanentError
from worker.loyalty import membership, order_points, rounds
from worker.loyalty.actions import ActionSeen
from worker.measurement import attribution, rungs
from worker.measurement.rung_scheme import Scheme as RungScheme
from worker.processing import customers
from worker.processing.money import ShopMoney
from worker.processing.orders import (
    OrderLines,
    OrderRefused,
    OrderSighting,
    insert_lines,
    record_orders,
)
from worker.settings import Settings

logger = logging.getLogger(__name__)


class Scheduler(Protocol):
    """The next stage, asked about each event as it is applied (`scheduling.matching`): the
    customer's facts are those as of this event."""

    @property
    def settings(self) -> Settings:
        """The shop's currency and exchange rates, for the order rows."""
        ...

    @property
    def programme(self) -> Programme | None:
        """The shop's loyalty programme, whose ledger order events move; None: no programme."""
        ...

    @property
    def rungs(self) -> RungScheme | None:
        """The ladder (`measurement/rungs.toml`) the events move customers on; None: none."""
        ...

    def start(
        self,
        db: Session,
        event: Any,
        *,
        customer: Customer,
        order: Order | None,
        lines: OrderLines,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Cancels what the event ends; returns the delivery rows it starts."""
        ...

    def insert(self, db: Session, rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
        """Inserts delivery rows; returns the ids of those due now."""
        ...


@dataclass
class Processed:
    """What a batch of events left: deliveries due now, and events that failed for good."""

    due: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # event id → reason, kept on the row


class _EventFailed(Exception):
    def __init__(self, event_id: int, reason: str) -> None:
        super().__init__(reason)
        self.event_id, self.reason = event_id, reason


def process(db: Session, event_id: int, *, now: datetime, scheduler: Scheduler) -> list[int]:
    """Processes one pending event in one transaction; returns the ids of deliveries due now,
    for the caller to hand to `deliver`.

    Returns [] without doing anything if the event was already processed (a repeated message).
    Raises PermanentError, after marking the event failed, for a payload it cannot use.
    """
    result = process_many(db, [event_id], now=now, scheduler=scheduler)
    if event_id in result.failed:
        raise PermanentError(result.failed[event_id])
    return result.due


def process_many(
    db: Session,
    event_ids: Sequence[int],
    *,
    now: datetime,
    scheduler: Scheduler,
) -> Processed:
    """Processes the pending events among `event_ids`, in id order, in one transaction.
    `Processed.due` lists the deliveries due now, for the caller to hand to `deliver`.

    Each event moves `pending → processed` by its own compare-and-set, so one already
    processed (a repeated message, a batch overlapping another) is left alone, and a crash
    rolls the whole batch back to pending for the relay. An event whose payload cannot be
    used is marked failed with the reason and the batch is done again without it.

    A batch that meets an error no one foresaw (a value the database refuses, a bug one
    payload finds) is done again one event a transaction, so that only the event that meets
    it alone is marked failed and the others are processed. Errors that are not an event's
    fault (the database away: `errors.NOT_THE_ROWS_FAULT`) propagate, for the actor to retry.
    """
    processed = Processed()
    try:
        _process_together(db, event_ids, processed, now=now, scheduler=scheduler)
    except NOT_THE_ROWS_FAULT:
        raise
    except Exception as exc:
        db.rollback()
        logger.warning(
            "a batch of %d events met %s; processing them one by one",
            len(event_ids),
            type(exc).__name__,
        )
        for event_id in sorted(event_ids):
            _process_alone(db, event_id, processed, now=now, scheduler=scheduler)
    return processed


def _process_together(
    db: Session,
    event_ids: Sequence[int],
    processed: Processed,
    *,
    now: datetime,
    scheduler: Scheduler,
) -> None:
    remaining = list(event_ids)
    while remaining:
        claimed = sorted(db.execute(_claim(), {"ids": remaining}), key=lambda row: row.id)
        if not claimed:
            db.rollback()
            break  # Another worker got there first, or they failed for good earlier.
        try:
            batch = _Batch(scheduler, ShopMoney.of(scheduler.settings))
            due = _apply_all(db, claimed, batch, now=now)
        except _EventFailed as exc:
            db.rollback()
            mark_failed(db, exc.event_id, exc.reason)
            processed.failed[exc.event_id] = exc.reason
            logger.warning("event %d failed for good; the reason is on the row", exc.event_id)
            remaining = [row.id for row in claimed if row.id != exc.event_id]
            continue
        db.commit()
        processed.due += due
        for row in claimed:  # one line an event, ids only: what a log pipeline indexes
            logger.info(
                "event %d processed (%s)", row.id, row.type,
                extra={"event_id": row.id, "event_type": row.type, "source": row.source},
            )  # fmt: skip
        break


def _process_alone(
    db: Session, event_id: int, processed: Processed, *, now: datetime, scheduler: Scheduler
) -> None:
    """One event of a batch that failed together, in its own transaction; an error it meets
    alone (other than NOT_THE_ROWS_FAULT) marks it failed."""
    try:
        _process_together(db, [event_id], processed, now=now, scheduler=scheduler)
    except NOT_THE_ROWS_FAULT:
        raise
    except Exception as exc:
        db.rollback()
        reason = unexpected_reason(exc)
        mark_failed(db, event_id, reason)
        processed.failed[event_id] = reason
        # The traceback helps whoever fixes the cause; logs scrub the values it quotes.
        logger.warning("event %d failed for good (%s)", event_id, type(exc).__name__, exc_info=True)


def unexpected_reason(exc: Exception) -> str:
    """What the row says of an error no check foresaw: its kind only, since the messages of
    database and encoding errors quote the values (addresses, names)."""
    orig = getattr(exc, "orig", None)  # the driver's own error inside SQLAlchemy's
    kind = type(orig).__name__ if isinstance(orig, Exception) else type(exc).__name__
    if isinstance(exc, DataError | IntegrityError | UnicodeEncodeError):
        return f"the database refused a value ({kind}); no retry can help"
    return f"{kind} while processing this event alone"


@cache
def _claim() -> Any:
    c = EVENTS.c
    ids = one_of(c.id, "ids")
    return EVENT.update(EventStatus.PENDING, EventStatus.PROCESSED, ids).returning(
        c.id, c.source, c.source_event_id, c.type, c.occurred_at, c.payload
    )


@cache
def _link() -> Any:
    return (
        update(EVENTS)
        .where(EVENTS.c.id == bindparam("event_id"))
        .values(customer_id=bindparam("linked_customer"), order_id=bindparam("linked_order"))
    )


def mark_failed(db: Session, event_id: int, reason: str) -> None:
    """Keeps the event, marked failed with the reason, for a replay after a fix."""
    EVENT.move_one(
        db,
        event_id,
        EventStatus.PENDING,
        EventStatus.FAILED,
        error=reason[:2000],
        attempts=EVENTS.c.attempts + 1,
    )
    db.commit()


@dataclass
class _Batch:
    """What a batch writes at its end, in one statement each."""

    scheduler: Scheduler
    money: ShopMoney
    links: list[dict[str, Any]] = field(default_factory=list)  # event → customer and order
    lines: list[dict[str, Any]] = field(default_factory=list)  # new orders' lines
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # new delivery rows
    due: list[int] = field(default_factory=list)  # inserted deliveries that are due now
    known_lines: OrderLines = field(default_factory=OrderLines)  # recorded, not inserted yet
    orders: set[int] = field(default_factory=set)  # recorded: their attribution is decided again

    def insert_deliveries(self, db: Session, *, now: datetime) -> None:
        """Inserts the new deliveries so far, keeping those due now."""
        rows, self.deliveries = self.deliveries, []
        self.due += self.scheduler.insert(db, rows, now=now)

    def write_links(self, db: Session) -> None:
        """Links the events so far to their customer and order (a later round's `unless`
        tells an order told again from another one by its cause's order)."""
        links, self.links = self.links, []
        if links:
            db.execute(_link(), links)


def _apply_all(db: Session, claimed: Sequence[Any], batch: _Batch, *, now: datetime) -> list[int]:
    waiting = [(event, _parse(event)) for event in claimed]
    while waiting:
        waiting = _apply_round(db, waiting, batch, now=now)
    batch.insert_deliveries(db, now=now)
    insert_lines(db, batch.lines)
    batch.write_links(db)
    # A new order, or an order's time moved: which email earned it is decided in this commit.
    attribution.attribute_orders(db, batch.orders, now=now)
    return batch.due


def _parse(event: Any) -> CanonicalEvent:
    try:
        return CanonicalEvent.model_validate(event.payload)
    except ValidationError as exc:
        # Each field and what is wrong with it, never the value (pydantic's text quotes it).
        fields = "; ".join(f"{e['field']}: {e['error']}" for e in describe_errors(exc))
        reason = f"payload does not fit the canonical event: {fields}"
        raise _EventFailed(event.id, reason) from exc


Parsed = tuple[Any, CanonicalEvent]  # a row of `_claim` and its payload


def _apply_round(
    db: Session,
    waiting: list[Parsed],
    batch: _Batch,
    *,
    now: datetime,
) -> list[Parsed]:
    """Applies the first waiting event of each customer, a few statements for them all;
    returns the others, in order, for the next round.

    One event per customer a round: each sees its customer's facts as of itself, as if the
    events came one by one. New deliveries and order lines go to `batch`.
    """
    sightings = [
        customers.Sighting(event.source, incoming.customer, event.occurred_at, incoming.account)
        for event, incoming in waiting
    ]
    now_round, later = _split_round(waiting, sightings, customers.find_keys(db, sightings))
    found = customers.resolve_customers(
        db, [sightings[i] for i, _ in now_round], [key for _, key in now_round]
    )
    placed = [
        (position, waiting[i]) for position, (i, _) in enumerate(now_round) if waiting[i][1].order
    ]
    try:
        recorded = record_orders(
            db,
            [
                OrderSighting(
                    event.source,
                    incoming.order,  # type: ignore[arg-type]
                    found[p].id,  # type: ignore[arg-type]
                    event.type,
                    event.occurred_at,
                    event_id=event.id,
                    event_key=f"{event.source}:{event.source_event_id}",
                )
                for p, (event, incoming) in placed
            ],
            batch.lines,
            batch.known_lines,
            money=batch.money,
        )
    except OrderRefused as exc:  # kept, failed with the reason, for a replay after a fix
        raise _EventFailed(exc.event_id, exc.reason) from exc
    orders = {p: order for (p, _), order in zip(placed, recorded, strict=True)}
    batch.orders.update(order.id for order in recorded if order.id is not None)
    facts = customers.refresh_facts(
        db,
        [found[p].id for p, _ in placed],  # type: ignore[misc]
        currency=batch.money.currency,
        now=now,
    )
    programme = batch.scheduler.programme
    if programme is not None:
        context = (found, orders, facts)
        _apply_loyalty(
            db, programme, now_round, waiting, context, currency=batch.money.currency, now=now
        )
    scheme = batch.scheduler.rungs
    if scheme is not None:
        # On the rung their facts now reach: those whose orders moved and those not placed yet
        # (new customers). Time passing moves the others, in the daily refresh.
        ordered = {p for p, _ in placed}
        causes = {
            found[p].id: waiting[i][0].occurred_at
            for p, (i, _) in enumerate(now_round)
            if p in ordered or found[p].rung is None
        }
        moved = rungs.place(db, scheme, causes, now=now, currency=batch.money.currency)  # type: ignore[arg-type]
        facts.update(moved)
    # A paid membership's events set its row before triggers on them read `loyalty`.
    membership.apply_events(
        db,
        [
            (found[p].id, membership.seen_of(row.type, row.occurred_at, parsed.data))  # type: ignore[misc]
            for p, (row, parsed) in enumerate(waiting[i] for i, _ in now_round)
            if row.type in membership.EVENTS
        ],
    )
    for position, (i, _) in enumerate(now_round):
        event = waiting[i][0]
        customer = facts.get(found[position].id, found[position])  # type: ignore[arg-type]
        order = orders.get(position)
        batch.deliveries += batch.scheduler.start(
            db, event, customer=customer, order=order, lines=batch.known_lines, now=now
        )
        batch.links.append(
            {
                "event_id": event.id,
                "linked_customer": customer.id,
                "linked_order": order.id if order else None,
            }
        )
    if later:  # written now, for the next round's `unless` and cooldown look-ups
        batch.insert_deliveries(db, now=now)
        batch.write_links(db)
    return [waiting[i] for i in later]


def _apply_loyalty(
    db: Session,
    programme: Programme,
    now_round: list[tuple[int, str]],
    waiting: list[Parsed],
    context: tuple[list[Customer], dict[int, Any], dict[int, Customer]],
    *,
    currency: str,
    now: datetime,
) -> None:
    """The round's events on the programme (`loyalty.rounds`), in the transaction that records
    the orders, so points, rewards and order never disagree."""
    found, orders, facts = context
    orders_in, acted = [], []
    for p, (i, _) in enumerate(now_round):
        event, incoming = waiting[i]
        customer_id, email = found[p].id, found[p].email
        assert customer_id is not None
        if p in orders:
            orders_in.append(
                (order_points.OrderSeen(orders[p], event.type, customer_id, email), incoming.order)
            )
        acted.append(ActionSeen(event.id, event.type, event.occurred_at, customer_id, email))
    rounds.apply_round(db, programme, orders_in, acted, facts, currency=currency, now=now)


def _split_round(
    waiting: list[Parsed], sightings: list[customers.Sighting], keys: list[str | None]
) -> tuple[list[tuple[int, str]], list[int]]:
    """(position, customer key) of the events to apply this round, and positions left for
    the next: any event after one with the same email or platform id waits.

    Raises _EventFailed for an event naming an unknown id and no email (unless an earlier
    event of this round may link that id first: then it waits).
    """
    now_round: list[tuple[int, str]] = []
    later: list[int] = []
    seen: set[object] = set()
    for i, (sighting, key) in enumerate(zip(sightings, keys, strict=True)):
        handles = {key, (sighting.source, sighting.incoming.id)} - {None, (sighting.source, None)}
        if handles & seen:
            later.append(i)
        elif key is None:
            raise _EventFailed(
                waiting[i][0].id,
                f"unknown customer id {sighting.incoming.id!r} from {sighting.source}: "
                "no email to create one",
            )
        else:
            now_round.append((i, key))
        seen |= handles
    return now_round, later
