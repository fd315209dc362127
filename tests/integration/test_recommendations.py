"""Recommendations: bought together first, then best-sellers, never what the customer owns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session, col, select

from models import Customer, Event
from worker.audience import recommendations
from worker.canonical import CanonicalEvent
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.queue import clock
from worker.rendering.variables import build_context
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
SHOP = "https://tea.example"

CATALOGUE = {
    "sencha": ("Sencha", "tea", "12.00"),
    "matcha": ("Matcha", "tea", "24.00"),
    "oolong": ("Oolong", "tea", "15.00"),
    "pot": ("Teapot", "teaware", "40.00"),
    "cups": ("Cups", "teaware", "18.00"),
    "whisk": ("Whisk", "teaware", "9.00"),
}


def buy(
    db: Session,
    runtime: Runtime,
    who: str,
    number: int,
    products: list[str],
    *,
    type: str = "order.placed",
) -> None:
    lines = [
        {
            "product_id": pid,
            "title": CATALOGUE[pid][0],
            "category": CATALOGUE[pid][1],
            "quantity": 1,
            "price": CATALOGUE[pid][2],
        }
        for pid in products
    ]
    total = sum((Decimal(CATALOGUE[pid][2]) for pid in products), Decimal(0))
    at = T0 + timedelta(minutes=number)
    canonical = CanonicalEvent.model_validate(
        {
            "source": "api",
            "id": f"{type}-{number}",
            "type": type,
            "occurred_at": at.isoformat(),
            "customer": {"email": f"{who}@example.com", "accepts_marketing": True},
            "order": {"id": str(number), "total": str(total), "currency": "EUR", "lines": lines},
        }
    )
    [event_id] = store_events(db, [canonical], now=at).stored
    process(db, event_id, now=at, scheduler=Scheduler(runtime.triggers, runtime.settings))


def customer_id(db: Session, who: str) -> int:
    found = db.exec(select(Customer).where(col(Customer.email) == f"{who}@example.com")).one()
    assert found.id is not None
    return found.id


def picks(db: Session, who: str, limit: int = 6) -> list[str]:
    rows = recommendations.for_customer(db, customer_id(db, who), limit=limit, shop_url=SHOP)
    return [row["product_id"] for row in rows]


def shop(db: Session, runtime: Runtime) -> None:
    """Three customers bought sencha with the pot, one with matcha; cups sell on their own."""
    buy(db, runtime, "ana", 1, ["sencha", "pot"])
    buy(db, runtime, "bo", 2, ["sencha", "pot"])
    buy(db, runtime, "cy", 3, ["sencha", "matcha"])
    buy(db, runtime, "cy", 4, ["pot"])
    buy(db, runtime, "di", 5, ["cups"])
    buy(db, runtime, "ed", 6, ["cups"])
    buy(db, runtime, "fa", 7, ["cups", "whisk"])
    buy(db, runtime, "gu", 8, ["oolong"])


def test_bought_together_comes_first_then_the_categorys_then_the_shops_best_sellers(
    db: Session, runtime: Runtime
) -> None:
    shop(db, runtime)
    buy(db, runtime, "new", 9, ["sencha"])
    assert recommendations.refresh(db) > 0
    # Pot (3 customers bought it with sencha) and matcha (1), then the best tea they do not
    # own (oolong), then the shop's best-sellers (cups: 3 customers, whisk).
    assert picks(db, "new") == ["pot", "matcha", "oolong", "cups", "whisk"]


def test_what_the_customer_already_owns_is_never_suggested(db: Session, runtime: Runtime) -> None:
    shop(db, runtime)
    recommendations.refresh(db)
    assert "sencha" not in picks(db, "cy") and "pot" not in picks(db, "cy")
    # Everything bought with what they own, they own: best-sellers of their categories.
    assert picks(db, "cy") == ["cups", "oolong", "whisk"]


def test_a_customer_without_orders_gets_the_shops_best_sellers(
    db: Session, runtime: Runtime
) -> None:
    shop(db, runtime)
    recommendations.refresh(db)
    canonical = CanonicalEvent.model_validate(
        {
            "id": "signup",
            "type": "customer.created",
            "occurred_at": T0.isoformat(),
            "customer": {"email": "zoe@example.com"},
        }
    )
    [event_id] = store_events(db, [canonical], now=T0).stored
    process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    assert picks(db, "zoe", limit=2) == ["cups", "pot"]


def test_cancelled_orders_count_for_nothing(db: Session, runtime: Runtime) -> None:
    buy(db, runtime, "ana", 1, ["sencha", "whisk"])
    buy(db, runtime, "ana", 1, ["sencha", "whisk"], type="order.cancelled")
    buy(db, runtime, "bo", 2, ["sencha"])
    recommendations.refresh(db)
    assert picks(db, "bo") == []


def test_a_suggestion_carries_title_price_and_a_link(db: Session, runtime: Runtime) -> None:
    shop(db, runtime)
    recommendations.refresh(db)
    [first] = recommendations.for_customer(db, customer_id(db, "gu"), limit=1, shop_url=SHOP)
    assert first == {
        "product_id": "sencha",
        "title": "Sencha",
        "category": "tea",
        "price": Decimal("12.00"),
        "currency": "EUR",
        "url": "https://tea.example/products/sencha",
    }


def test_a_refresh_replaces_the_previous_one(db: Session, runtime: Runtime) -> None:
    buy(db, runtime, "ana", 1, ["sencha", "pot"])
    buy(db, runtime, "bo", 2, ["sencha"])
    recommendations.refresh(db)
    assert picks(db, "bo") == ["pot"]
    buy(db, runtime, "cy", 3, ["sencha", "cups"])
    buy(db, runtime, "di", 4, ["sencha", "cups"])
    recommendations.refresh(db)
    assert picks(db, "bo") == ["cups", "pot"]


@contextmanager
def statements(db: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = db.get_bind()

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_top_n_is_one_query_and_only_when_a_template_reads_it(
    db: Session, runtime: Runtime
) -> None:
    shop(db, runtime)
    recommendations.refresh(db)
    customer = db.get_one(Customer, customer_id(db, "gu"))
    cause = db.exec(select(Event).where(col(Event.customer_id) == customer.id)).first()
    assert cause is not None
    with statements(db) as seen:
        context = build_context(
            db, event=cause, customer=customer, order=None, settings=runtime.settings, now=T0
        )
        assert seen == []
        titles = [product["title"] for product in context["recommendations"]]
        assert len(seen) == 1
        assert [product["title"] for product in context["recommendations"]] == titles
    assert len(seen) == 1 and titles[0] == "Sencha"


def test_the_top_n_query_looks_products_up_by_index(db: Session, runtime: Runtime) -> None:
    shop(db, runtime)
    recommendations.refresh(db)
    params = {"customer_id": customer_id(db, "gu"), "limit": 3}
    query = recommendations._FOR_CUSTOMER
    if db.get_bind().dialect.name == "sqlite":
        plan = " ".join(
            str(row[-1]) for row in db.execute(text(f"EXPLAIN QUERY PLAN {query}"), params)
        )
        assert "SEARCH r USING INDEX sqlite_autoindex_product_recommendations_1 (anchor=?)" in plan
        assert "SEARCH o USING COVERING INDEX ix_orders_customer_placed_net (customer_id=?)" in plan
        assert "SEARCH l USING INDEX ix_order_lines_order_id (order_id=?)" in plan
        assert "SCAN r " not in plan
    else:
        # Statistics of this test's rows, not of what earlier tests left in pg_class (the tables
        # are emptied with DELETE between tests); rolled back with the test.
        db.execute(text("ANALYZE orders, order_lines, product_recommendations"))
        db.execute(text("SET LOCAL enable_seqscan = off"))  # the planner would scan 20 rows
        plan = " ".join(row[0] for row in db.execute(text(f"EXPLAIN {query}"), params))
        assert "product_recommendations_pkey" in plan
        assert "ix_orders_customer_placed_net" in plan
    db.rollback()


def test_the_clock_refreshes_recommendations_once_a_day(db: Session, runtime: Runtime) -> None:
    shop(db, runtime)
    first = clock.tick(db, now=T0 + timedelta(hours=1), runtime=runtime)
    assert first.recommendations is not None and first.recommendations > 0
    assert clock.tick(db, now=T0 + timedelta(hours=2), runtime=runtime).recommendations is None
    assert picks(db, "gu")[0] == "sencha"
