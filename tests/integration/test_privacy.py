"""Shopify's mandatory privacy topics and `ladder customers export|forget`: what is left after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from models import Customer, InboxItem, Order, PrivacyRecord
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import one, rows, shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.cli import app
from worker.runtime import Runtime
from worker.web import create_app

# The platforms' documented samples are a dollar shop's orders.
pytestmark = pytest.mark.usefixtures("usd_shop")

T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)
# What names John Smith in the samples: his addresses, names and phone numbers, and the
# billing and shipping details of his order.
PERSONAL = (
    "john@example.com",
    "jon@example.com",
    "smith",
    "elm st",
    "shipping street",
    "shipper",
    "123-123-1234",
    "555-555-ship",
)
REDACT_PHONE = "555-625-1199"  # only in the customers/redact request itself


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_shopify(client: TestClient, topic: str, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    headers = shopify_headers(topic, body, webhook_id=f"wh-{topic}")
    status: int = client.post("/webhooks/shopify", content=body, headers=headers).status_code
    return status


def everything_in_the_database(db: Session) -> str:
    """Every value of every row of every table, as lower-case text."""
    db.expire_all()
    values = []
    for table in SQLModel.metadata.sorted_tables:
        for row in db.execute(sa_select(table)):
            for value in row:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                values.append(json.dumps(text, default=str, ensure_ascii=False))
    db.rollback()
    return "\n".join(values).lower()


def johns_history(client: TestClient, stub_broker: StubBroker) -> None:
    for topic in ("orders/create", "checkouts/create", "customers/update"):
        payload = shopify_payload(topic)
        if topic == "customers/update":  # the sample is Bob; make it John's update
            payload.update(id=115310627314723950, email="john@example.com", last_name="Smith")
        assert post_shopify(client, topic, payload) == 200
    drain(stub_broker)


def test_customers_redact_leaves_no_personal_data_anywhere_and_keeps_the_totals(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    johns_history(client, stub_broker)
    before = everything_in_the_database(db)
    assert all(marker in before for marker in PERSONAL)  # the check below can fail

    assert post_shopify(client, "customers/redact", shopify_payload("customers/redact")) == 200
    drain(stub_broker)

    after = everything_in_the_database(db)
    assert [marker for marker in (*PERSONAL, REDACT_PHONE) if marker in after] == []
    customer = one(db, select(Customer))
    assert customer.email == f"forgotten-{customer.id}@invalid"
    assert (customer.first_name, customer.last_name, customer.orders_count) == (None, None, 1)
    assert one(db, select(Order.total)) == 40495  # the anonymous aggregate stays
    record = one(db, select(PrivacyRecord))
    assert (record.kind, record.source, record.customer_id) == ("forget", "shopify", customer.id)
    # The webhook bodies are kept, with the personal fields emptied.
    order_row = one(db, select(InboxItem).where(InboxItem.topic == "orders/create"))
    kept = json.loads(order_row.body)
    assert kept["total_price"] == "404.95"
    assert kept["email"] is None
    assert kept["billing_address"] is None


def test_customers_data_request_writes_an_export_and_records_it(
    client: TestClient, db: Session, stub_broker: StubBroker, runtime: Runtime
) -> None:
    johns_history(client, stub_broker)
    request = shopify_payload("customers/data_request")
    assert post_shopify(client, "customers/data_request", request) == 200
    drain(stub_broker)

    record = one(db, select(PrivacyRecord))
    assert (record.kind, record.reference) == ("export", "9999")
    assert record.path is not None
    path = Path(record.path)
    assert path.parent == runtime.settings.exports_dir
    assert path.stat().st_mode & 0o777 == 0o600
    export = json.loads(path.read_text())
    assert export["customer"]["email"] == "john@example.com"
    assert [order["total"] for order in export["orders"]] == [40495]
    assert len(export["orders"][0]["lines"]) == 5
    told = sorted(event["type"] for event in export["events"])
    assert [kind for kind in told if not kind.startswith("rung.")] == [
        "checkout.started",
        "customer.updated",
        "order.placed",
    ]
    # Their moves on the ladder, each but the first placement told as a rung event (whether
    # they stood on `prospect` before the order depends on how the webhooks were batched).
    moves = [(m["from_rung"], m["to_rung"]) for m in export["ladder_moves"]]
    assert moves[-1][1] == "first_time" and moves[0][0] is None
    assert told.count("rung.up") == len(moves) - 1
    assert {hook["topic"] for hook in export["webhooks"]} >= {"orders/create", "checkouts/create"}


def test_shop_redact_forgets_every_customer_of_the_shop(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    johns_history(client, stub_broker)
    assert post_shopify(client, "customers/create", shopify_payload("customers/create")) == 200
    drain(stub_broker)
    assert post_shopify(client, "shop/redact", shopify_payload("shop/redact")) == 200
    drain(stub_broker)
    after = everything_in_the_database(db)
    assert [marker for marker in (*PERSONAL, "bob@biller.com", "biller") if marker in after] == []
    assert {row.body for row in rows(db, select(InboxItem))} == {b""}
    kinds = sorted(record.kind for record in rows(db, select(PrivacyRecord)))
    assert kinds == ["forget", "forget", "shop_redact"]


def test_a_privacy_topic_needs_a_valid_signature_like_any_other(
    client: TestClient, db: Session, stub_broker: StubBroker
) -> None:
    johns_history(client, stub_broker)
    body = json.dumps(shopify_payload("customers/redact")).encode()
    headers = shopify_headers("customers/redact", body, secret="not-the-shops")
    assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 401
    drain(stub_broker)
    assert one(db, select(Customer.email)) == "john@example.com"


def test_ladder_customers_export_and_forget_do_the_same_by_hand(
    client: TestClient, db: Session, stub_broker: StubBroker, runtime: Runtime
) -> None:
    johns_history(client, stub_broker)
    runner = CliRunner()
    unknown = runner.invoke(app, ["customers", "forget", "nobody@example.com"])
    assert unknown.exit_code == 1

    exported = runner.invoke(app, ["customers", "export", "John@Example.com"])
    assert exported.exit_code == 0, exported.output
    [path] = Path(runtime.settings.exports_dir).glob("customer-*.json")
    assert json.loads(path.read_text())["customer"]["email"] == "john@example.com"

    forgotten = runner.invoke(app, ["customers", "forget", "john@example.com", "--yes"])
    assert forgotten.exit_code == 0, forgotten.output
    assert [marker for marker in PERSONAL if marker in everything_in_the_database(db)] == []
    assert not path.exists()  # the export file named them too
    kinds = sorted((r.kind, r.source) for r in rows(db, select(PrivacyRecord)))
    assert kinds == [("export", "cli"), ("forget", "cli")]
