"""Forgetting forgets everything: after `ladder customers forget` or a customers/redact webhook,
the customer's address, names and IP are nowhere, not in any table and column of the database
(every table the database holds, read back; on PostgreSQL also `pg_dump`), nor in any file
under Ladder's folders (outbox, stray temporary files, exports, spool). Another customer with
the same history keeps all of theirs.

The history is built through the real paths: Shopify's documented orders/create example (its
John Smith replaced by each person) posted signed, the thank-you email sent by the file backend,
SendGrid events stored and applied, an export through the CLI, a delivery spooled while the
database was away.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import MetaData, select
from sqlalchemy.engine import make_url
from sqlmodel import Session, col
from sqlmodel import select as sql_select
from typer.testing import CliRunner

from models import Customer, Delivery, Event, EventStatus
from models.db import get_engine
from tests.support.brokers import drain
from tests.support.web import TestClient
from tests.support.webhooks import SHOP_DOMAIN, fixture, shopify_headers, with_secrets
from worker import current_time
from worker.cli import app
from worker.delivery import feedback
from worker.intake import spool
from worker.providers import delivery_key
from worker.providers.files import FileProvider
from worker.queue import clock
from worker.runtime import Runtime
from worker.sources import Verified
from worker.web import create_app

# The platforms' documented samples are a dollar shop's orders.
pytestmark = pytest.mark.usefixtures("usd_shop")

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    ip: str
    customer_id: int  # their Shopify customer id
    order_id: int

    @property
    def markers(self) -> tuple[str, ...]:
        """What names them, as the grep looks for it (lower case)."""
        return tuple(v.lower() for v in (self.email, self.first_name, self.last_name, self.ip))


ANA = Person("ana.forget@example.com", "Anastasia", "Quimbleworth", "203.0.113.77", 7001, 9001)
BO = Person("bo.keep@example.com", "Bartholomew", "Fennimore", "198.51.100.23", 7002, 9002)


def order_of(person: Person, *, order_id: int | None = None) -> dict[str, object]:
    """Shopify's orders/create example with John Smith (and his shipper) replaced by `person`."""
    text = json.dumps(fixture("shopify/orders_create.json")["response"])
    for old, new in (
        ("john@example.com", person.email),
        ("jon@example.com", person.email),
        ("John", person.first_name),
        ("Smith", person.last_name),
        ("Steve", person.first_name),
        ("Shipper", person.last_name),
        ("115310627314723950", str(person.customer_id)),
    ):
        text = text.replace(old, new)
    order: dict[str, object] = json.loads(text)
    number = order_id or person.order_id
    order.update(
        id=number,
        order_number=number,
        browser_ip=person.ip,
        created_at=T0.isoformat(),
        cancelled_at=None,
        client_details={"browser_ip": person.ip, "user_agent": "Mozilla/5.0"},
    )
    return order


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post_shopify(client: TestClient, topic: str, payload: object, webhook_id: str) -> None:
    body = json.dumps(payload).encode()
    headers = shopify_headers(topic, body, webhook_id=webhook_id)
    answer = client.post("/webhooks/shopify", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


def build_history(
    person: Person, client: TestClient, db: Session, runtime: Runtime, stub_broker: StubBroker
) -> None:
    """Everything Ladder can hold on a person: webhook bodies, events, a customer, a sent
    email (.eml) and a stray temporary file, SendGrid events with their IP, a bounce reason
    quoting the address, a failed event, an export, and a delivery in the spool."""
    settings = runtime.settings
    post_shopify(client, "orders/create", order_of(person), f"wh-{person.order_id}")
    drain(stub_broker)
    later = T0 + timedelta(hours=2, minutes=1)
    current_time.freeze(later)
    clock.tick(db, now=later, runtime=runtime)  # the thank-you is due: sent to the outbox
    drain(stub_broker)
    current_time.freeze(T0)
    customer = db.exec(sql_select(Customer).where(col(Customer.email) == person.email)).one()
    delivery = db.exec(
        sql_select(Delivery).where(
            col(Delivery.customer_id) == customer.id, col(Delivery.trigger) == "thank-you"
        )
    ).one()
    db.rollback()
    assert delivery.status == "sent"
    eml = FileProvider(settings.outbox_dir).path_for(
        delivery_key(delivery.id or 0, delivery.created_at)
    )
    # A send cut short leaves its temporary file beside the outbox's emails.
    shutil.copyfile(eml, eml.with_name(f".{eml.name}.4242.17.tmp"))
    # SendGrid's events for that email: an open (with the IP) and a bounce quoting the address.
    base = {"email": person.email, "delivery_id": str(delivery.id), "timestamp": 1777629600}
    opened = {"event": "open", "ip": person.ip, "useragent": "Mozilla/5.0"}
    bounced = {"event": "bounce", "type": "bounce", "reason": f"550 <{person.email}>: unknown"}
    events = [
        {**base, **opened, "sg_event_id": f"o{person.order_id}"},
        {**base, **bounced, "sg_event_id": f"b{person.order_id}"},
    ]
    feedback.apply_stored(db, feedback.store(db, events, now=T0), now=T0, settings=settings)
    # An event naming them that failed before it was linked to anyone.
    db.add(
        Event(
            source="api",
            source_event_id=f"failed-{person.order_id}",
            type="customer.updated",
            occurred_at=T0,
            received_at=T0,
            payload={"customer": {"email": person.email, "first_name": person.first_name}},
            status=EventStatus.FAILED,
            error=f"unknown customer id {person.customer_id}",
        )
    )
    db.commit()
    exported = CliRunner().invoke(app, ["customers", "export", person.email])
    assert exported.exit_code == 0, exported.output


def spool_a_webhook(person: Person, runtime: Runtime) -> None:
    """A later webhook about them, spooled while the database was away (after the clock's
    ticks above, which move spooled deliveries into the inbox)."""
    body = json.dumps(order_of(person, order_id=person.order_id + 1)).encode()
    verified = Verified("orders/paid", f"wh-spooled-{person.order_id}", {})
    spool.append(runtime.settings.spool_dir, "shopify", verified, body, received_at=T0)


def database_text(url: str) -> str:
    """Every value of every column of every table the database holds (reflected: tables no
    model declares included), and on PostgreSQL the whole `pg_dump`, in lower case."""
    engine = get_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    values = []
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    values.append(json.dumps(text, default=str, ensure_ascii=False))
    if url.startswith("postgresql"):
        with engine.connect() as connection:
            major = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run(
            [pg_dump_for(major), "--data-only", "--inserts", plain],
            check=True,
            capture_output=True,
            text=True,
        )
        values.append(dump.stdout)
    return "\n".join(values).lower()


def pg_dump_for(major: int) -> str:
    """A `pg_dump` as new as the server: the machine's, or the one pgserver bundles (the private
    server the test harness starts is pgserver's)."""
    candidates = [shutil.which("pg_dump")]
    with warnings.catch_warnings():  # platformdirs warns on import when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        try:
            import pgserver  # only where the harness installed it

            candidates.insert(0, str(Path(pgserver.__file__).parent / "pginstall/bin/pg_dump"))
        except ImportError:
            pass
    for candidate in filter(None, candidates):
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True)
        if version.returncode == 0 and int(version.stdout.split()[-1].split(".")[0]) >= major:
            return candidate
    raise AssertionError(f"no pg_dump for PostgreSQL {major} among {candidates}")


def files_text(folders: list[Path]) -> dict[str, str]:
    """Each file under Ladder's folders (hidden ones too), as lower-case text."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                found[str(path)] = readable(path.read_bytes()).lower()
    return found


def readable(content: bytes) -> str:
    """A file's text; a spool record's body is base64 inside it, so that is decoded too."""
    text = content.decode("utf-8", "replace")
    try:
        body = base64.b64decode(json.loads(content)["body"], validate=True)
    except (ValueError, KeyError, TypeError):
        return text
    return text + "\n" + body.decode("utf-8", "replace")


def found(person: Person, database: str, files: dict[str, str]) -> list[str]:
    where = [f"database: {m}" for m in person.markers if m in database]
    where += [f"{path}: {m}" for path, text in files.items() for m in person.markers if m in text]
    return where


@pytest.mark.parametrize("how", ["cli", "customers/redact"])
def test_a_forgotten_customer_is_nowhere_and_another_keeps_everything(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    database_url: str,
    how: str,
) -> None:
    for person in (ANA, BO):
        build_history(person, client, db, runtime, stub_broker)
    for person in (ANA, BO):
        spool_a_webhook(person, runtime)
    settings = runtime.settings
    folders = [settings.outbox_dir, settings.exports_dir, settings.spool_dir]
    before = database_text(database_url), files_text(folders)
    # Every kind of place holds both of them before: the check below can fail.
    for person in (ANA, BO):
        places = {line.split(": ")[0] for line in found(person, *before)}
        assert len(places) == 1 + 4  # the database; the .eml, its temporary, export, spool
    hidden = [path for path in before[1] if Path(path).name.startswith(".")]
    assert len(hidden) == 2  # the stray temporary files

    if how == "cli":
        forgotten = CliRunner().invoke(app, ["customers", "forget", ANA.email, "--yes"])
        assert forgotten.exit_code == 0, forgotten.output
    else:
        redact = {
            "shop_id": 954889,
            "shop_domain": SHOP_DOMAIN,
            "customer": {"id": ANA.customer_id, "email": ANA.email, "phone": None},
            "orders_to_redact": [ANA.order_id],
        }
        post_shopify(client, "customers/redact", redact, "wh-redact")
        drain(stub_broker)

    after = database_text(database_url), files_text(folders)
    assert found(ANA, *after) == []
    assert found(BO, *after) == found(BO, *before)  # every place that named Bo still does
    bo = set(found(BO, *before))
    assert {line for line in bo if line.startswith("database")} == {
        f"database: {marker}" for marker in BO.markers
    }
    # The spooled deliveries still reach the inbox, Ana's with her fields emptied.
    assert spool.drain(db, settings.spool_dir).moved == 2
    db.commit()
    assert found(ANA, database_text(database_url), files_text(folders)) == []
