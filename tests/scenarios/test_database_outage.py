"""The database away: deliveries are spooled to disk, answered 200, and drained by the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select

from models import Event, InboxItem
from tests.support.brokers import drain
from tests.support.services import free_port
from tests.support.web import TestClient
from tests.support.webhooks import one, rows, shopify_headers, shopify_payload, with_secrets
from worker import current_time
from worker.intake import spool
from worker.queue import clock
from worker.runtime import Runtime
from worker.sources import Verified
from worker.web import create_app

T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)


def test_deliveries_during_a_database_outage_are_spooled_answered_200_and_drained_after(
    db: Session, runtime: Runtime, stub_broker: StubBroker, tmp_path: Path
) -> None:
    current_time.freeze(T0)
    spool_dir = tmp_path / "spool"
    # Nothing listens on this port: every connection is refused, as when PostgreSQL is down.
    away = f"postgresql+psycopg://ladder@127.0.0.1:{free_port()}/ladder?connect_timeout=2"
    web_settings = with_secrets(runtime.settings, database_url=away, spool_dir=spool_dir)
    body = json.dumps(shopify_payload("orders/create")).encode()
    headers = shopify_headers("orders/create", body, webhook_id="during-outage")
    with TestClient(create_app(web_settings)) as client:
        first = client.post("/webhooks/shopify", content=body, headers=headers)
        retried = client.post("/webhooks/shopify", content=body, headers=headers)
    assert (first.status_code, retried.status_code) == (200, 200)
    assert first.json() == {"id": None, "duplicate": False, "spooled": True}
    assert len(list(spool_dir.glob("*.json"))) == 2  # both kept; the inbox dedupes them later
    assert list(spool_dir.glob("*.partial")) == []

    # A damaged file (a disk fault, a hand edit) is set aside, not allowed to block the rest.
    (spool_dir / "00000000000000000000-damaged.json").write_text("{not json")

    # The database is back (this test's own): the clock moves the spool into the inbox.
    clock_settings = runtime.settings.model_copy(update={"spool_dir": spool_dir})
    report = clock.tick(db, now=T0 + timedelta(seconds=5), runtime=Runtime(clock_settings))
    assert report.spooled == 2
    assert [path.name for path in spool_dir.iterdir()] == ["00000000000000000000-damaged.bad"]
    drain(stub_broker)
    row = one(db, select(InboxItem))
    assert (row.dedupe_key, row.status, row.body) == ("during-outage", "normalised", body)
    assert row.received_at == T0  # when the shop sent it, not when the spool was drained
    assert [e.type for e in rows(db, select(Event))] == ["order.placed"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite stores a NUL
def test_a_spooled_delivery_the_database_refuses_is_set_aside_and_the_rest_drained(
    db: Session, runtime: Runtime, stub_broker: StubBroker, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    poison = Verified("invoice.paid", "evt_\u0000bad", {})  # spooled by an older version
    spool.append(spool_dir, "stripe", poison, b"{}", received_at=T0)
    body = json.dumps(shopify_payload("orders/create")).encode()
    good = Verified("orders/create", "after-the-poison", {"x-shopify-topic": "orders/create"})
    spool.append(spool_dir, "shopify", good, body, received_at=T0)

    clock_settings = runtime.settings.model_copy(update={"spool_dir": spool_dir})
    report = clock.tick(db, now=T0 + timedelta(seconds=5), runtime=Runtime(clock_settings))

    assert report.spooled == 1
    [set_aside] = spool_dir.iterdir()
    assert set_aside.suffix == ".bad"
    assert "evt_\\u0000bad" in set_aside.read_text()  # kept, for a person to look at
    drain(stub_broker)
    assert [row.dedupe_key for row in rows(db, select(InboxItem))] == ["after-the-poison"]
