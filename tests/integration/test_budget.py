"""The frequency budget when one worker claims a batch holding two emails for one customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus
from tests.support.factories import order_event
from worker.delivery.batches import deliver_many
from worker.intake.ingest import store_events
from worker.processing.events import process
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import Settings

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def runtime_with(
    tmp_path: Path, database_url: str, priorities: dict[str, int], *, first_when: str = "true"
) -> Runtime:
    folder = tmp_path / "triggers"
    folder.mkdir()
    for name, priority in priorities.items():
        when = first_when if name.startswith("a-") else "true"
        (folder / f"{name}.toml").write_text(
            f'name = "{name}"\nmessage = "thank_you"\non = "order.placed"\npriority = {priority}\n'
            f'when = "{when}"\n',
            encoding="utf-8",
        )
    settings = Settings(
        database_url=database_url,
        triggers_dir=folder,
        outbox_dir=tmp_path / "outbox",
        marketing_per_day=1,
        marketing_per_week=2,
    )
    return Runtime(settings)


@pytest.mark.parametrize(
    ("priorities", "sent", "deferred"),
    [
        ({"a-low": 0, "b-high": 5}, "b-high", "a-low"),  # the later id, but the higher priority
        ({"a-first": 0, "b-second": 0}, "a-first", "b-second"),  # equal: the older one
    ],
)
def test_one_batch_sends_one_of_a_customers_two_emails_and_defers_the_other(
    db: Session,
    database_url: str,
    tmp_path: Path,
    priorities: dict[str, int],
    sent: str,
    deferred: str,
) -> None:
    runtime = runtime_with(tmp_path, database_url, priorities)
    event = order_event(event_id="ord-1", order_id="1", at=T0)
    [event_id] = store_events(db, [event], now=T0).stored
    due = process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    assert len(due) == 2 and runtime.provider.idempotent  # claimed together by `claim_many`

    outcome = deliver_many(db, sorted(due), now=T0, runtime=runtime)

    db.expire_all()
    rows = {d.trigger: d for d in db.exec(select(Delivery).order_by(col(Delivery.id))).all()}
    assert rows[sent].status == DeliveryStatus.SENT
    assert rows[deferred].status == DeliveryStatus.SCHEDULED
    assert rows[deferred].send_at == T0 + timedelta(days=1)
    assert (outcome.waiting, outcome.later) == ([rows[deferred].id], [])
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_an_email_refused_earlier_in_the_batch_leaves_its_place_in_the_budget(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    priorities = {"a-first": 0, "b-second": 0}
    runtime = runtime_with(
        tmp_path, database_url, priorities, first_when="customer.first_name == 'Ana'"
    )
    event = order_event(event_id="ord-1", order_id="1", at=T0)
    [event_id] = store_events(db, [event], now=T0).stored
    due = process(db, event_id, now=T0, scheduler=Scheduler(runtime.triggers, runtime.settings))
    customer = db.exec(select(Customer)).one()
    customer.first_name = "Anna"  # a-first's `when` no longer holds at send time
    db.add(customer)
    db.commit()

    deliver_many(db, sorted(due), now=T0, runtime=runtime)

    db.expire_all()
    rows = {d.trigger: d for d in db.exec(select(Delivery)).all()}
    assert rows["a-first"].status == DeliveryStatus.CANCELLED
    assert rows["b-second"].status == DeliveryStatus.SENT  # not deferred behind a cancelled one


def test_an_email_sent_in_an_earlier_batch_counts_in_the_next_one(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    runtime = runtime_with(tmp_path, database_url, {"a-only": 0})
    earlier = T0 - timedelta(hours=2)

    def due_for(event_id: str, email: str, at: datetime) -> list[int]:
        event = order_event(event_id=event_id, order_id=event_id, at=at, email=email)
        [stored] = store_events(db, [event], now=at).stored
        return process(db, stored, now=at, scheduler=Scheduler(runtime.triggers, runtime.settings))

    deliver_many(db, due_for("ord-1", "ana@example.com", earlier), now=earlier, runtime=runtime)
    later = due_for("ord-2", "ana@example.com", T0) + due_for("ord-3", "bo@example.com", T0)

    deliver_many(db, sorted(later), now=T0, runtime=runtime)

    db.expire_all()
    rows = db.exec(select(Delivery).order_by(col(Delivery.id))).all()
    assert [row.status for row in rows] == [
        DeliveryStatus.SENT,  # ana, two hours ago
        DeliveryStatus.SCHEDULED,  # ana again: her one a day is spent
        DeliveryStatus.SENT,  # bo's first
    ]
    assert rows[1].send_at == earlier + timedelta(days=1)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
