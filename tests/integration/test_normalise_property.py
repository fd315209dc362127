"""Any payload under any topic, hostile values too (NUL, lone surrogates, NaN, nesting 100,000
deep, 5,000-digit numbers, the years 1 and 9999), read by `normalise`: kept and marked, its
try counted, never an exception (which would leave it pending, retried forever)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from models import InboxItem, InboxStatus
from tests.support import fuzz
from tests.support.webhooks import shopify_payload, woo_order
from worker.intake import inbox
from worker.runtime import Runtime
from worker.sources import Verified

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
TOPICS = {
    "shopify": [
        "orders/create",
        "orders/paid",
        "refunds/create",
        "customers/update",
        "customers_email_marketing_consent/update",
        "checkouts/create",
        "customers/redact",
        "customers/data_request",
    ],
    "woocommerce": ["order.created", "order.updated", "customer.created", "coupon.created"],
    "stripe": ["invoice.paid", "customer.subscription.created", "checkout.session.completed"],
}
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | fuzz.hostile
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
# Real samples with fields replaced by random values, and wholly random objects.
FIELDS = ["id", "email", "total_price", "currency", "line_items", "created_at", "customer",
          "status", "total", "billing", "date_created_gmt", "data", "created", "order_id",
          "transactions", "quantity", "price", "email_marketing_consent"]  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    source = draw(st.sampled_from(sorted(TOPICS)))
    topic = draw(st.sampled_from(TOPICS[source]))
    if source == "shopify" and draw(st.booleans()):
        base = shopify_payload("orders/create")
    elif source == "woocommerce" and draw(st.booleans()):
        base = woo_order()
    else:
        base = {}
    changes = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4))
    document = {**base, **changes}
    lines = document.get("line_items")
    if isinstance(lines, list) and lines and isinstance(lines[0], dict):
        line_changes = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3))
        document["line_items"] = [{**lines[0], **line_changes}, *lines[1:]]
    return source, topic, document


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=payloads())
@example(payload=("shopify", "orders/create", {"note_attributes": fuzz.nested(100_000)}))
@example(payload=("shopify", "orders/create", {"note_attributes": fuzz.nested(900)}))
@example(payload=("woocommerce", "order.created", {**woo_order(), "total": float("nan")}))
def test_any_payload_is_kept_and_marked_never_an_exception(
    db: Session, runtime: Runtime, payload: tuple[str, str, dict[str, Any]]
) -> None:
    source, topic, document = payload
    body = fuzz.dumps(document)
    stored = inbox.store(db, source, Verified(topic, uuid.uuid4().hex), body, now=T0)
    assert stored.id is not None
    new_events = inbox.normalise(db, stored.id, now=T0, settings=runtime.settings)
    row = db.exec(select(InboxItem).where(InboxItem.id == stored.id)).one()
    db.rollback()
    assert row.body == body
    # Marked: each state with what it means for the operator, never left as it came in.
    if row.status == InboxStatus.NORMALISED:
        assert (row.error, row.normalised_at) == (None, T0)
        assert len(new_events) <= row.events  # a repeated event is stored once
    elif row.status == InboxStatus.PENDING:  # it refers to something not stored yet
        assert row.error is not None and row.error.startswith("waiting: ")
        assert (row.attempts, row.enqueued_at) == (1, T0)  # the relay tries it again
        assert new_events == []
    else:
        assert row.status in (InboxStatus.IGNORED, InboxStatus.FAILED)
        assert row.error  # always with the reason
        assert row.attempts == 1
        assert new_events == []
