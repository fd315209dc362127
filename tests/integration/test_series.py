"""Content series: each customer of the audience gets the first step on entry and the next one
`every` after the last was sent to them, never one twice; leaving the audience ends it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus, Event
from tests.integration.test_broadcasts import BEFORE, TOKYO_10, customer
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.authoring.broadcast_status import series_steps
from worker.cli.broadcasts import print_series
from worker.delivery.sending import deliver
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling import series

FILE = """
name     = "tips"
audience = "customer.locale == 'en'"
steps    = ["whats_new", "whats_new_b"]
every    = "30d"
at       = "10:00"
"""


@pytest.fixture
def tips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Runtime]:
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "tips.toml").write_text(FILE)
    monkeypatch.setenv("SERIES_DIR", str(folder))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("EMAIL_BACKEND", "file")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("BROKER_URL", raising=False)
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()
    yield runtime_module.get_runtime()
    settings_module.get_settings.cache_clear()
    runtime_module.get_runtime.cache_clear()


def steps_of(db: Session, customer_id: int) -> list[tuple[str, str]]:
    db.expire_all()
    rows = db.exec(
        select(Delivery).where(col(Delivery.customer_id) == customer_id).order_by(col(Delivery.id))
    )
    return [(row.message, str(row.status)) for row in rows]


def advance(db: Session, runtime: Runtime, at: object) -> dict[int, int]:
    found = runtime.series["tips"]
    return series.advance(
        db,
        found,
        env=runtime.renderer.env,
        settings=runtime.settings,
        now=at,  # type: ignore[arg-type]
    )


def test_each_customer_goes_through_the_steps_at_their_own_pace_once_each(
    db: Session, tips: Runtime
) -> None:
    ana = customer(db, "ana@example.com", timezone="Asia/Tokyo")
    ben = customer(db, "ben@example.com", accepts_marketing=False)
    customer(db, "cy@example.com", locale="de")
    db.commit()

    assert advance(db, tips, BEFORE) == {1: 1, 2: 0}  # Ana enters; Ben has no consent yet
    assert advance(db, tips, BEFORE) == {1: 0, 2: 0}  # the same day again: nothing twice
    [first] = db.exec(select(Delivery)).all()
    assert (first.customer_id, first.send_at) == (ana, TOKYO_10)  # 10:00 in Tokyo
    assert deliver(db, first.id or 0, now=TOKYO_10, runtime=tips) == "sent"

    ten_days = TOKYO_10 + timedelta(days=10)
    db.execute(update(Customer).where(col(Customer.id) == ben).values(accepts_marketing=True))
    db.commit()
    assert advance(db, tips, ten_days) == {1: 1, 2: 0}  # Ben enters now, Ana waits her 30 days
    assert advance(db, tips, TOKYO_10 + timedelta(days=30, hours=1)) == {1: 0, 2: 1}
    assert steps_of(db, ana) == [("whats_new", "sent"), ("whats_new_b", "scheduled")]
    assert steps_of(db, ben) == [("whats_new", "scheduled")]  # his own pace


def test_a_customer_who_leaves_the_audience_gets_no_more_steps(db: Session, tips: Runtime) -> None:
    ana = customer(db, "ana@example.com", timezone="Asia/Tokyo")
    db.commit()
    advance(db, tips, BEFORE)
    [first] = db.exec(select(Delivery)).all()
    deliver(db, first.id or 0, now=TOKYO_10, runtime=tips)
    later = TOKYO_10 + timedelta(days=30, hours=1)
    advance(db, tips, later)
    db.execute(update(Customer).where(col(Customer.id) == ana).values(locale="de"))
    db.commit()
    second = db.exec(select(Delivery).where(col(Delivery.message) == "whats_new_b")).one()
    assert deliver(db, second.id or 0, now=second.send_at, runtime=tips) == "cancelled"
    db.expire_all()
    assert db.get(Delivery, second.id).reason == (  # type: ignore[union-attr]
        "left the audience of tips: customer.locale == 'en'"
    )
    db.execute(update(Customer).where(col(Customer.id) == ana).values(locale="en"))
    db.commit()
    assert advance(db, tips, later + timedelta(days=60)) == {1: 0, 2: 0}  # ended for her


def test_the_clock_advances_each_series_once_a_day(db: Session, tips: Runtime) -> None:
    ana = customer(db, "ana@example.com", timezone="Asia/Tokyo")
    db.commit()
    assert clock.tick(db, now=BEFORE, runtime=tips).series == 1
    assert clock.tick(db, now=BEFORE + timedelta(hours=1), runtime=tips).series == 0
    assert [status for _, status in steps_of(db, ana)] == [DeliveryStatus.SCHEDULED.value]


def test_series_status_prints_each_steps_deliveries_at_80_columns(
    db: Session, tips: Runtime
) -> None:
    customer(db, "ana@example.com", timezone="Asia/Tokyo")
    customer(db, "ben@example.com")
    db.commit()
    advance(db, tips, BEFORE)
    console = Console(file=io.StringIO(), width=80, record=True)
    steps = series_steps(db, "series:tips", tips.series["tips"].steps)
    print_series(tips.series["tips"], steps, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "series tips: one step every 30d" in text
    assert "│ 1    │ whats_new   │ scheduled 2 " in text
    assert "│ 2    │ whats_new_b │ -  " in text


def test_a_step_the_budget_skipped_is_passed_over_and_the_series_goes_on(
    db: Session, tips: Runtime
) -> None:
    ana = customer(db, "ana@example.com", timezone="Asia/Tokyo")
    db.commit()
    advance(db, tips, BEFORE)
    skipped = col(Delivery.customer_id) == ana
    db.execute(update(Delivery).where(skipped).values(status="skipped", reason="budget"))
    db.commit()
    assert advance(db, tips, TOKYO_10 + timedelta(days=29)) == {1: 0, 2: 0}
    assert advance(db, tips, TOKYO_10 + timedelta(days=30)) == {1: 0, 2: 1}


def test_a_day_with_no_step_to_schedule_leaves_no_event(db: Session, tips: Runtime) -> None:
    customer(db, "cy@example.com", locale="de")  # not in the audience
    db.commit()
    assert advance(db, tips, BEFORE) == {1: 0, 2: 0}
    assert db.exec(select(Event)).all() == []
