"""The variables a trigger condition and a template see; templates/README.md documents them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, overload

from sqlmodel import Session

from models import Customer, Event, Order, OrderLine
from models.types import to_major
from worker.audience import recommendations
from worker.audience.recommendations import product_url, product_view
from worker.loyalty import views as loyalty_views
from worker.processing import customers, orders
from worker.rendering import bounds
from worker.settings import Settings


def customer_view(customer: Customer, *, now: datetime, default_currency: str) -> dict[str, Any]:
    currency = customer.currency or default_currency
    last = customer.last_order_at
    return {
        "id": customer.id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "locale": customer.locale,
        "timezone": customer.timezone,
        "birthday": customer.birthday,
        "accepts_marketing": customer.accepts_marketing,
        "orders_count": customer.orders_count,
        "total_spent": to_major(customer.total_spent, currency),
        "average_order_value": to_major(customer.average_order_value, currency),
        "currency": currency,
        "first_order_at": customer.first_order_at,
        "last_order_at": last,
        "days_since_last_order": (now - last).days if last else None,
        "rfm": customer.rfm,
        "segment": customer.segment,
        "p_alive": customer.p_alive,
        "predicted_orders": customer.predicted_orders,
        "clv": None if customer.clv is None else to_major(customer.clv, currency),
        "abc": customer.abc,
        "rung": customer.rung,
        "previous_rung": customer.previous_rung,
        "rung_changed_at": customer.rung_changed_at,
    }


def shop_view(settings: Settings) -> dict[str, Any]:
    return {
        "name": settings.shop_name,
        "postal_address": settings.postal_address,
        "url": settings.shop_url,
        "review_url": settings.review_url or settings.shop_url,
        "currency": settings.default_currency,
    }


def order_view(
    db: Session,
    order: Order,
    *,
    shop_url: str = "",
    shop_currency: str = "EUR",
    lines: orders.OrderLines | None = None,
) -> dict[str, Any]:
    """The order as the customer paid it (`total`, `currency`, `lines`), and as the facts
    count it: `shop_total` in the shop's currency, comparable with the customer's totals."""
    known = lines or orders.OrderLines()
    return {
        "id": order.source_order_id,
        "status": order.status,
        "total": to_major(order.total, order.currency),
        "currency": order.currency,
        "refunded": to_major(order.refunded, order.currency),
        "shop_total": to_major(order.shop_total, shop_currency),
        "placed_at": order.placed_at,
        "lines": [
            {
                "product_id": line.product_id,
                "title": line.title,
                "category": line.category,
                "quantity": line.quantity,
                "price": to_major(line.price, order.currency),
                "url": product_url(shop_url, line.product_id),
            }
            for line in known.of(db, order.id)  # type: ignore[arg-type]
        ],
    }


def event_view(event: Event) -> dict[str, Any]:
    return {
        "id": event.source_event_id,
        "source": event.source,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "data": LazyMapping(lambda: event.payload.get("data", {})),
    }


# What `before` holds: the customer's order facts from before the triggering order.
BEFORE_FACTS = ("orders_count", "total_spent", "average_order_value")


def build_context(
    db: Session,
    *,
    event: Event,
    customer: Customer,
    order: Order | None,
    settings: Settings,
    now: datetime,
    needs: frozenset[str] | None = None,
    lines: orders.OrderLines | None = None,
) -> dict[str, Any]:
    """Everything a condition or template may read. `needs` skips what nobody reads; `lines`
    serves order lines a batch already knows."""
    currency = customer.currency or settings.default_currency
    context: dict[str, Any] = {
        "event": event_view(event),
        "customer": customer_view(customer, now=now, default_currency=settings.default_currency),
        "order": None,
        "before": None,
        "segment": customer.segment or "default",
        "shop": shop_view(settings),
        "now": now,
    }
    if needs is None or "recommendations" in needs:
        customer_id: int = customer.id  # type: ignore[assignment]
        context["recommendations"] = LazySequence(
            lambda: recommendations.for_customer(
                db, customer_id, limit=settings.recommendations_count, shop_url=settings.shop_url
            )
        )
    if order is not None and (needs is None or "order" in needs):
        context["order"] = order_view(
            db,
            order,
            shop_url=settings.shop_url,
            shop_currency=settings.default_currency,
            lines=lines,
        )
    if order is not None and (needs is None or "before" in needs):
        cause_order = order

        def load_before() -> dict[str, Any]:
            facts = customers.facts_before(db, customer.id, cause_order)  # type: ignore[arg-type]
            return {
                "orders_count": facts["orders_count"],
                "total_spent": to_major(facts["total_spent"], currency),
                "average_order_value": to_major(facts["average_order_value"], currency),
            }  # the names in BEFORE_FACTS

        context["before"] = LazyMapping(load_before)
    programme = loyalty_views.programme_in(settings.triggers_dir, settings.loyalty_programme)
    context["loyalty"] = None  # no programme: a template tests `{% if loyalty %}`
    if programme is not None and (needs is None or "loyalty" in needs):
        member_id: int = customer.id  # type: ignore[assignment]
        context["loyalty"] = LazyMapping(
            lambda: loyalty_views.loyalty_view(
                db, programme, member_id, currency=settings.default_currency, now=now
            )
        )
    return context


class LazyMapping(Mapping[str, Any]):
    """A mapping loaded on first read: a template that never reads it costs no query."""

    def __init__(self, load: Callable[[], Mapping[str, Any]]) -> None:
        self._load = load
        self._data: Mapping[str, Any] | None = None

    def _loaded(self) -> Mapping[str, Any]:
        if self._data is None:
            with bounds.waiting():  # a database read: not the template's own time
                self._data = self._load()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


class LazySequence(Sequence[Any]):
    """A list loaded on first read: an email that shows no recommendations runs no query."""

    def __init__(self, load: Callable[[], Sequence[Any]]) -> None:
        self._load = load
        self._data: Sequence[Any] | None = None

    def _loaded(self) -> Sequence[Any]:
        if self._data is None:
            with bounds.waiting():  # a database read: not the template's own time
                self._data = self._load()
        return self._data

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._loaded()[index]

    def __len__(self) -> int:
        return len(self._loaded())

    def __bool__(self) -> bool:
        return len(self) > 0


class Absent:
    """A context name that is always None for this trigger (no order on a date trigger)."""

    def __init__(self, why: str) -> None:
        self.why = why


# A mapping whose keys are not known in advance (an event's `data` from outside).
ANY_KEYS = object()
# What a shape is: a dict of known keys, a one-item list (a sequence of that item), None (a
# value not looked into: a number, a date), ANY_KEYS, or Absent.
Shape = Any
# What the daily jobs put in `event.data` (worker/audience: segments.emit_moves, dates.sweep).
_OWN_DATA = {
    "segment.": ("from", "to"),
    "date:": ("on", "date"),
    # A broadcast's email (worker/scheduling/broadcasts.py): no order, like the daily jobs'.
    "broadcast.": ("broadcast", "run"),
    "series.": ("series", "day"),
    # worker/loyalty: ledger (points.earned), tiers (tier.changed), codes and rewards
    "points.earned": ("points", "order_id", "available_at", "action", "first"),
    "points.expiring": ("points", "expires_at"),
    # the grace below a tier starts (tiers.py); before "tier.", which is tier.changed's
    "tier.at_risk": ("tier", "tiers_by", "figure", "threshold", "to_keep", "grace_ends"),
    "tier.": ("from", "to", "direction"),
    # a customer's first points (rounds.py)
    "loyalty.joined": ("programme", "points", "pending"),
    # worker/measurement/rungs.py (rung.up, rung.down)
    "rung.": ("from", "to", "direction"),
    "reward.unlocked": (
        "reward",
        "title",
        "kind",
        "value",
        "partner",
        "code",
        "points",
        "expires_at",
    ),
    "reward.redeemed": ("reward", "code", "order_id"),
    # worker/loyalty/sweepstakes.py: a winner of the draw
    "sweepstake.won": ("sweepstake", "title", "prize", "seed"),
}


def context_shape(entry: str, settings: Settings) -> dict[str, Shape]:
    """The names a trigger starting on `entry` gets in its context, as `build_context` makes
    them (its views called on empty rows, so a new fact shows up here by itself). An `order.*`
    event has an order; Ladder's own events (dates, segment moves) never do; others may."""
    now = datetime(2000, 1, 1, tzinfo=UTC)
    blank = Event(
        source="", source_event_id="", type=entry, occurred_at=now, received_at=now, payload={}
    )
    event: dict[str, Shape] = dict.fromkeys(event_view(blank))
    prefix = next((p for p in _OWN_DATA if entry.startswith(p)), None)
    event["data"] = dict.fromkeys(_OWN_DATA[prefix]) if prefix else ANY_KEYS
    known = orders.OrderLines()
    known.remember(0, [OrderLine(order_id=0, product_id="", title="", quantity=1, price=0)])
    row = Order(
        id=0,
        source="",
        source_order_id="",
        customer_id=0,
        placed_at=now,
        total=0,
        shop_total=0,
        currency="EUR",
    )
    order: Shape = _keys(order_view(None, row, lines=known))  # type: ignore[arg-type]
    before: Shape = dict.fromkeys(BEFORE_FACTS)
    if prefix is not None:
        own = {"broadcast.": "a broadcast", "series.": "a content series"}
        whose = own.get(prefix, f"a trigger on {entry}")
        order = before = Absent(f"{whose} gets no order")
    product = SimpleNamespace(product_id="", title="", category=None, price=0, currency="EUR")
    customer = Customer(email="", created_at=now)
    return {
        "event": event,
        "customer": dict.fromkeys(customer_view(customer, now=now, default_currency="EUR")),
        "order": order,
        "before": before,
        "segment": None,
        "shop": dict.fromkeys(shop_view(settings)),
        "now": None,
        "recommendations": [_keys(product_view(product, ""))],
        "loyalty": {
            **dict.fromkeys(loyalty_views.NAMES),
            "rewards": [dict.fromkeys(loyalty_views.REWARD_NAMES)],
            "membership": dict.fromkeys(loyalty_views.MEMBERSHIP_NAMES),
            "tiers": [dict.fromkeys(loyalty_views.TIER_NAMES)],
        },
    }


def _keys(view: dict[str, Any]) -> dict[str, Shape]:
    """A view's keys; a list of mappings in it becomes a one-item list of their keys."""
    return {
        key: [dict.fromkeys(value[0])] if isinstance(value, list) and value else None
        for key, value in view.items()
    }
