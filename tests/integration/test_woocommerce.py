"""WooCommerce orders and customers, from the REST API's documented examples, into canonical
events; paid, fulfilled, cancelled and refunded read off the status of `order.updated`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import Customer, Event, InboxItem, Order, OrderLine
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import one, rows, with_secrets, woo_customer, woo_headers, woo_order
from worker import current_time
from worker.runtime import Runtime
from worker.web import create_app

# The platforms' documented samples are a dollar shop's orders.
pytestmark = pytest.mark.usefixtures("usd_shop")

T0 = datetime(2017, 3, 22, 19, 30, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_woo(client: TestClient, topic: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/woocommerce", content=body, headers=woo_headers(topic, body))
    assert response.status_code == 200, response.text


def event_ids(db: Session) -> list[str]:
    return sorted(e.source_event_id for e in rows(db, select(Event)))


def completed(order: dict[str, Any]) -> dict[str, Any]:
    """Order 727 as `order.updated` sends it once the shop marks it complete."""
    return {
        **order,
        "status": "completed",
        "date_completed_gmt": "2017-03-24T08:00:00",
        "date_modified_gmt": "2017-03-24T08:00:00",
    }


def test_a_paid_order_created_is_order_placed_and_order_paid(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_woo(client, "order.created", woo_order())
    drain(stub_broker)
    placed, paid = rows(db, select(Event).order_by(Event.id))  # type: ignore[arg-type]
    assert (placed.type, placed.source_event_id) == ("order.placed", "order:727:placed")
    assert placed.occurred_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)  # date_created_gmt
    assert (paid.type, paid.occurred_at) == (
        "order.paid",
        datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC),
    )
    order = one(db, select(Order))
    assert (order.source_order_id, order.status, order.total, order.currency) == (
        "727",
        "paid",
        2935,
        "USD",
    )
    lines = rows(db, select(OrderLine).order_by(OrderLine.id))  # type: ignore[arg-type]
    assert [(line.product_id, line.title, line.quantity, line.price) for line in lines] == [
        ("93", "Woo Single #1", 2, 300),
        ("22", "Ship Your Idea &ndash; Color: Black, Size: M Test", 1, 1200),
    ]
    customer = one(db, select(Customer))  # a guest checkout: customer_id 0, known by email
    assert (customer.email, customer.first_name, customer.last_name) == (
        "john.doe@example.com",
        "John",
        "Doe",
    )


def test_order_updated_gives_each_new_state_once_however_often_it_repeats(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_woo(client, "order.created", woo_order())
    drain(stub_broker)
    done = completed(woo_order())
    post_woo(client, "order.updated", done)
    post_woo(client, "order.updated", done)  # the same update again: a duplicate delivery
    post_woo(client, "order.updated", {**done, "date_modified_gmt": "2017-03-25T10:00:00"})
    drain(stub_broker)
    assert event_ids(db) == ["order:727:fulfilled", "order:727:paid", "order:727:placed"]
    assert len(rows(db, select(InboxItem))) == 3  # two distinct updates stored, nothing lost
    assert one(db, select(Order)).status == "fulfilled"


@pytest.mark.parametrize("status", ["cancelled", "refunded"])
def test_a_cancelled_or_refunded_status_is_order_cancelled_or_refunded(
    client: TestClient, db: Session, stub_broker: StubBroker, status: str
) -> None:
    post_woo(client, "order.created", woo_order())
    drain(stub_broker)
    changed = {**woo_order(), "status": status, "date_modified_gmt": "2017-03-26T12:00:00"}
    post_woo(client, "order.updated", changed)
    drain(stub_broker)
    last = rows(db, select(Event).where(Event.type == f"order.{status}"))
    assert [e.occurred_at for e in last] == [datetime(2017, 3, 26, 12, 0, tzinfo=UTC)]
    assert one(db, select(Order)).status == status
    assert one(db, select(Customer)).orders_count == 0


def test_a_partial_refund_listed_on_an_update_is_order_refunded_and_the_rest_still_counts(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_woo(client, "order.created", woo_order())
    drain(stub_broker)
    # Changed from the sample: one refund of 5.00 listed (as WooCommerce lists them: a negative
    # total), a later modification time; the status stays `processing`.
    changed = {
        **woo_order(),
        "refunds": [{"id": 731, "reason": "damaged", "total": "-5.00"}],
        "date_modified_gmt": "2017-03-26T12:00:00",
    }
    post_woo(client, "order.updated", changed)
    drain(stub_broker)

    [refunded] = rows(db, select(Event).where(Event.type == "order.refunded"))
    assert (refunded.source_event_id, refunded.status) == ("order:727:refund:731", "processed")
    assert refunded.payload["order"]["refund"] == {"id": "731", "amount": "5.00"}
    order = one(db, select(Order))
    assert (order.status, order.total, order.refunded) == ("paid", 2935, 500)
    customer = one(db, select(Customer))
    assert (customer.orders_count, customer.total_spent) == (1, 2935 - 500)


def test_an_order_updated_whose_created_never_arrived_still_places_the_order(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    # WooCommerce never retries: a lost order.created must not lose the order.
    post_woo(client, "order.updated", completed(woo_order()))
    drain(stub_broker)
    assert event_ids(db) == ["order:727:fulfilled", "order:727:paid", "order:727:placed"]
    assert one(db, select(Customer)).orders_count == 1


def test_customer_created_and_updated_keep_the_profile(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_woo(client, "customer.created", woo_customer())
    renamed = {**woo_customer(), "first_name": "Johnny", "date_modified_gmt": "2017-04-01T10:00:00"}
    drain(stub_broker)
    post_woo(client, "customer.updated", renamed)
    drain(stub_broker)
    customer = one(db, select(Customer))
    assert (customer.email, customer.first_name, customer.last_name) == (
        "john.doe@example.com",
        "Johnny",
        "Doe",
    )
    assert [e.type for e in rows(db, select(Event).order_by(Event.id))] == [  # type: ignore[arg-type]
        "customer.created",
        "customer.updated",
    ]


def test_a_topic_ladder_does_not_use_is_kept_and_marked_ignored(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    post_woo(client, "product.created", {"id": 93, "name": "Woo Single #1"})
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.status, row.error) == (
        "ignored",
        "WooCommerce topic 'product.created' is not used by Ladder",
    )


def test_a_unit_price_that_does_not_terminate_is_rounded_to_minor_units(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    order = woo_order()
    # Three for 10.00: WooCommerce computes `price` as total / quantity, a float.
    order["line_items"] = [
        {**order["line_items"][0], "quantity": 3, "total": "10.00", "price": 3.3333333333333335}
    ]
    post_woo(client, "order.created", order)
    drain(stub_broker)
    line = one(db, select(OrderLine))
    assert (line.quantity, line.price) == (3, 333)


def test_a_line_price_that_is_not_a_number_fails_the_delivery_with_the_reason(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    order = woo_order()
    order["line_items"][0]["price"] = "n/a"
    post_woo(client, "order.created", order)
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.status, row.error) == ("failed", "InvalidOperation while reading the payload")
    assert rows(db, select(Event)) == []
