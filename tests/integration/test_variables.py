"""The names a template sees are the same in a real send as in `ladder check`'s samples."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlmodel import Session, col, select

from models import Customer, Event, Order
from tests.support.factories import order_event
from worker.audience.recommendations import product_view
from worker.authoring.sample_customers import sample_context
from worker.delivery.composing import LINK_NAMES, personal_links
from worker.intake.ingest import store_events
from worker.loyalty import views as loyalty_views
from worker.processing.events import process
from worker.rendering.variables import ANY_KEYS, build_context, context_shape
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
DOCUMENTED = {
    "customer",
    "order",
    "before",
    "event",
    "segment",
    "shop",
    "recommendations",
    "unsubscribe_url",
    "preferences_url",
    "survey",
    "loyalty_url",
    "now",
    "loyalty",
}

# `loyalty` when the shop runs a programme: its names, and one usable reward's.
LOYALTY_SHAPE = {
    **dict.fromkeys(loyalty_views.NAMES),
    "rewards": [dict.fromkeys(loyalty_views.REWARD_NAMES)],
    "membership": dict.fromkeys(loyalty_views.MEMBERSHIP_NAMES),
    "tiers": [dict.fromkeys(loyalty_views.TIER_NAMES)],
}


def shape(value: Any) -> Any:
    """The names in a context, nested, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [shape(value[0])]
    return None


def test_a_real_context_has_the_documented_names_and_the_samples_the_same_shape(
    db: Session, runtime: Runtime
) -> None:
    event = order_event(event_id="o-1", order_id="1", at=T0)
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    customer = db.exec(select(Customer)).one()
    cause = db.exec(select(Event).where(col(Event.id) == event_id)).one()
    order = db.exec(select(Order)).one()
    real = build_context(
        db, event=cause, customer=customer, order=order, settings=runtime.settings, now=T0
    )
    real.update(personal_links(runtime.settings, customer.id or 0))
    real["before"] = dict(real["before"])
    assert real["loyalty"] is None  # the shop runs no programme
    real["loyalty"] = LOYALTY_SHAPE  # the shape when it runs one
    real["recommendations"] = [
        {"product_id": "", "title": "", "category": "", "price": 0, "currency": "", "url": ""}
    ]  # the shop has no recommendations yet: the shape of one, as for_customer returns it

    assert set(real) == DOCUMENTED
    sample = sample_context(runtime.settings)
    # What `event.data` holds is the event type's own (the sample's: the loyalty events').
    sample["event"]["data"] = real["event"]["data"] = {}
    assert shape(sample) == shape(real)
    assert real["segment"] == "default"  # no segment yet
    assert real["order"]["lines"][0]["url"] == "https://shop.example/products/p-9"


def test_the_names_ladder_check_reads_are_those_of_a_real_context(
    db: Session, runtime: Runtime
) -> None:
    event = order_event(event_id="o-1", order_id="1", at=T0)
    [event_id] = store_events(db, [event], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    customer = db.exec(select(Customer)).one()
    cause = db.exec(select(Event).where(col(Event.id) == event_id)).one()
    real = build_context(
        db,
        event=cause,
        customer=customer,
        order=db.exec(select(Order)).one(),
        settings=runtime.settings,
        now=T0,
    )
    real["before"] = dict(real["before"])
    real["loyalty"] = LOYALTY_SHAPE  # the shape when the shop runs one
    real["recommendations"] = [
        product_view(
            SimpleNamespace(product_id="p", title="t", category=None, price=1, currency="EUR"), ""
        )
    ]  # the shop has no recommendations yet: one as for_customer makes it
    expected = shape(real)
    expected["event"]["data"] = ANY_KEYS  # what a platform or the API sent

    assert context_shape("order.placed", runtime.settings) == expected
    assert set(LINK_NAMES) == set(personal_links(runtime.settings, customer.id or 0))
