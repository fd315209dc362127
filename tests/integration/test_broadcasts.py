"""Broadcasts: a run resolved into one delivery per customer of its audience, at 10:00 in each
customer's zone, exactly once, and sent by the delivery pipeline with consent re-checked."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from models import BroadcastRun, Customer, Delivery, DeliveryStatus, Event, Suppression
from triggers.broadcast import load_broadcast
from worker import runtime as runtime_module
from worker import settings as settings_module
from worker.delivery.sending import deliver
from worker.queue import clock
from worker.runtime import Runtime
from worker.scheduling import broadcasts

DAY = date(2027, 1, 5)
BEFORE = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
TOKYO_10 = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo (UTC+9)
LA_10 = datetime(2027, 1, 5, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles (UTC-8)

FILE = """
name     = "news"
message  = "whats_new"
audience = "customer.segment in ['loyal', 'champions'] or 'tea' in customer.categories"
date     = 2027-01-05
at       = "10:00"
"""


def news_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, *, extra: str = ""
) -> Generator[Runtime, None, None]:
    """A runtime whose broadcasts folder holds `FILE` (and `extra`), as the actors see it."""
    folder = tmp_path / "broadcasts"
    folder.mkdir()
    (folder / "news.toml").write_text(FILE + extra)
    monkeypatch.setenv("BROADCASTS_DIR", str(folder))
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


@pytest.fixture
def news(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Runtime]:
    yield from news_runtime(tmp_path, monkeypatch, database_url)


def customer(db: Session, email: str, **facts: object) -> int:
    values: dict[str, object] = {
        "first_name": "Ana",
        "locale": "en",
        "accepts_marketing": True,
        "created_at": BEFORE - timedelta(days=400),
        **facts,
    }
    row = Customer(email=email, **values)  # type: ignore[arg-type]
    db.add(row)
    db.flush()
    assert row.id is not None
    return row.id


def shop(db: Session) -> dict[str, int]:
    ids = {
        "tokyo": customer(db, "tokyo@example.com", segment="loyal", timezone="Asia/Tokyo"),
        "la": customer(db, "la@example.com", segment="champions", timezone="America/Los_Angeles"),
        "no-consent": customer(
            db, "no@example.com", segment="loyal", timezone="UTC", accepts_marketing=False
        ),
        "outside": customer(db, "out@example.com", segment="lost", timezone="UTC"),
    }
    db.add(Suppression(email="gone@example.com", reason="bounced", created_at=BEFORE))
    ids["suppressed"] = customer(db, "gone@example.com", segment="loyal", timezone="UTC")
    db.commit()
    return ids


def run_deliveries(db: Session) -> dict[int, Delivery]:
    db.expire_all()
    rows = db.scalars(select(Delivery).where(col(Delivery.broadcast_run_id).is_not(None)))
    return {row.customer_id: row for row in rows}


def test_a_run_reaches_each_customer_of_the_audience_once_at_ten_in_their_own_zone(
    db: Session, news: Runtime
) -> None:
    ids = shop(db)
    broadcast = news.broadcasts["news"]
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings)

    assert clock.resolve_broadcasts(db, now=BEFORE, runtime=news) == 0  # not yet due
    resolve_at = db.get(BroadcastRun, run_id).resolve_at  # type: ignore[union-attr]
    assert resolve_at == TOKYO_10 - timedelta(hours=5, minutes=10)  # UTC+14 comes first
    assert clock.resolve_broadcasts(db, now=resolve_at, runtime=news) == 2

    rows = run_deliveries(db)
    assert set(rows) == {ids["tokyo"], ids["la"], ids["no-consent"], ids["suppressed"]}
    assert rows[ids["tokyo"]].send_at == TOKYO_10
    assert rows[ids["la"]].send_at == LA_10
    assert rows[ids["tokyo"]].status == DeliveryStatus.SCHEDULED
    assert rows[ids["tokyo"]].trigger == "broadcast:news"
    assert rows[ids["tokyo"]].message_class == "marketing"
    assert (rows[ids["no-consent"]].status, rows[ids["no-consent"]].reason) == (
        DeliveryStatus.SKIPPED,
        "no marketing consent",
    )
    assert rows[ids["suppressed"]].reason == "address is on the suppression list"

    # A second clock, or the same one again: the run is taken, nothing more is inserted.
    db.execute(update(BroadcastRun).values(status="scheduled"))  # as if the CAS had lost
    db.commit()
    assert clock.resolve_broadcasts(db, now=resolve_at, runtime=news) == 2
    assert db.scalar(select(func.count()).select_from(Delivery)) == 4
    assert db.scalar(select(func.count()).select_from(Event)) == 1  # the run's one cause


def test_a_customer_who_unsubscribes_before_their_send_time_is_not_sent_it(
    db: Session, news: Runtime
) -> None:
    ids = shop(db)
    run_id = broadcasts.schedule(db, news.broadcasts["news"], now=BEFORE, settings=news.settings)
    clock.resolve_broadcasts(db, now=TOKYO_10 - timedelta(hours=5), runtime=news)
    db.execute(
        update(Customer).where(col(Customer.id) == ids["la"]).values(accepts_marketing=False)
    )
    db.commit()
    rows = run_deliveries(db)
    tokyo, la = rows[ids["tokyo"]].id or 0, rows[ids["la"]].id or 0

    assert deliver(db, tokyo, now=TOKYO_10, runtime=news) == "sent"
    assert deliver(db, la, now=TOKYO_10, runtime=news) is None  # not due yet
    assert deliver(db, la, now=LA_10, runtime=news) == "suppressed"
    rows = run_deliveries(db)
    assert rows[ids["la"]].reason == "no marketing consent"
    assert rows[ids["tokyo"]].broadcast_run_id == run_id
    assert len(list((news.settings.outbox_dir).glob("*.eml"))) == 1


def test_cancelling_a_resolved_run_cancels_what_has_not_gone(db: Session, news: Runtime) -> None:
    ids = shop(db)
    broadcasts.schedule(db, news.broadcasts["news"], now=BEFORE, settings=news.settings)
    clock.resolve_broadcasts(db, now=TOKYO_10, runtime=news)
    rows = run_deliveries(db)
    deliver(db, rows[ids["tokyo"]].id or 0, now=TOKYO_10, runtime=news)

    assert broadcasts.cancel(db, "news", now=TOKYO_10) == (0, 1)
    rows = run_deliveries(db)
    assert rows[ids["tokyo"]].status == DeliveryStatus.SENT
    assert rows[ids["la"]].status == DeliveryStatus.CANCELLED


def test_scheduling_a_run_twice_is_refused_naming_the_date(db: Session, news: Runtime) -> None:
    broadcast = news.broadcasts["news"]
    broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings)
    with pytest.raises(broadcasts.ScheduleError, match="already scheduled for 2027-01-05"):
        broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings)


def test_a_monthly_broadcast_schedules_its_next_run_when_it_resolves(
    db: Session, news: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "monthly.toml"
    path.write_text(FILE.replace('"news"', '"monthly"') + 'repeat = "monthly"\n')
    broadcast = load_broadcast(path)
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings)
    broadcasts.resolve(
        db, run_id, broadcast, day=DAY, env=news.renderer.env, settings=news.settings, now=BEFORE
    )
    runs = db.scalars(select(BroadcastRun).order_by(col(BroadcastRun.occurs_on))).all()
    assert [(run.occurs_on, run.status) for run in runs] == [
        (DAY, "resolved"),
        (date(2027, 2, 5), "scheduled"),
    ]


def test_a_time_of_day_in_quiet_hours_goes_at_the_window_start_in_each_zone(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("SEND_WINDOW", "09:00-20:00")
    made = news_runtime(tmp_path, monkeypatch, database_url, extra="")
    runtime = next(made)
    try:
        (runtime.settings.broadcasts_folder / "news.toml").write_text(
            FILE.replace('at       = "10:00"', 'at       = "07:30"')
        )
        runtime.__dict__.pop("broadcasts", None)  # read the file again
        ids = shop(db)
        broadcasts.schedule(db, runtime.broadcasts["news"], now=BEFORE, settings=runtime.settings)
        clock.resolve_broadcasts(db, now=TOKYO_10, runtime=runtime)
        rows = run_deliveries(db)
        tokyo = rows[ids["tokyo"]]
        assert tokyo.due_at == TOKYO_10 - timedelta(hours=2, minutes=30)  # 07:30 in Tokyo
        assert tokyo.send_at == TOKYO_10 - timedelta(hours=1)  # 09:00 in Tokyo
        assert rows[ids["la"]].send_at == LA_10 - timedelta(hours=1)  # 09:00 in Los Angeles
    finally:
        made.close()


def test_a_broadcast_yields_its_place_in_the_budget_to_a_higher_priority_one_and_waits(
    db: Session, news: Runtime
) -> None:
    ids = shop(db)
    flash_file = news.settings.broadcasts_folder / "flash.toml"
    flash_file.write_text(FILE.replace('"news"', '"flash"') + "priority = 10\n")
    news.__dict__.pop("broadcasts", None)  # read the files again
    for name in ("news", "flash"):
        broadcasts.schedule(db, news.broadcasts[name], now=BEFORE, settings=news.settings)
    clock.resolve_broadcasts(db, now=TOKYO_10, runtime=news)
    db.expire_all()
    mine = select(Delivery).where(col(Delivery.customer_id) == ids["tokyo"])
    by_name = {row.trigger: row for row in db.scalars(mine)}
    news_id = by_name["broadcast:news"].id or 0
    flash_id = by_name["broadcast:flash"].id or 0

    # The budget (1 a day) has room for one: the flash sale, of higher priority, takes it.
    assert deliver(db, news_id, now=TOKYO_10, runtime=news) == "scheduled"
    assert deliver(db, flash_id, now=TOKYO_10, runtime=news) == "sent"
    db.expire_all()
    waiting = db.get(Delivery, news_id)
    assert waiting is not None
    assert waiting.send_at == TOKYO_10 + timedelta(days=1)
    assert waiting.reason == (
        "deferred by the budget (1 per day marketing) to 2027-01-06 01:00 UTC"
    )


def test_a_run_resolved_too_late_for_a_zone_skips_its_customers_saying_why(
    db: Session, news: Runtime
) -> None:
    ids = shop(db)
    broadcasts.schedule(db, news.broadcasts["news"], now=BEFORE, settings=news.settings)
    # The clock was down: it resolves the run a day and an hour after Tokyo's 10:00.
    clock.resolve_broadcasts(db, now=TOKYO_10 + timedelta(days=1, hours=1), runtime=news)
    rows = run_deliveries(db)
    assert (rows[ids["tokyo"]].status, rows[ids["tokyo"]].reason) == (
        DeliveryStatus.SKIPPED,
        "missed: its time passed more than 1d before it was resolved",
    )
    assert rows[ids["la"]].status == DeliveryStatus.SCHEDULED  # 10:00 there is still to come


def test_scheduling_a_date_past_everywhere_is_refused(db: Session, news: Runtime) -> None:
    with pytest.raises(broadcasts.ScheduleError, match="is past everywhere"):
        broadcasts.schedule(
            db,
            news.broadcasts["news"],
            now=LA_10 + timedelta(days=2),
            settings=news.settings,
            day=DAY,
        )


def test_a_run_cancelled_before_it_was_resolved_can_be_scheduled_again(
    db: Session, news: Runtime
) -> None:
    ids = shop(db)
    broadcast = news.broadcasts["news"]
    first = broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings)
    assert broadcasts.cancel(db, "news", now=BEFORE) == (1, 0)
    assert broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings) == first
    clock.resolve_broadcasts(db, now=TOKYO_10, runtime=news)
    assert run_deliveries(db)[ids["tokyo"]].status == DeliveryStatus.SCHEDULED

    # Cancelled once resolved, the run stays resolved and its rows cancelled: not again.
    broadcasts.cancel(db, "news", now=TOKYO_10)
    with pytest.raises(broadcasts.ScheduleError, match="already resolved for 2027-01-05"):
        broadcasts.schedule(db, broadcast, now=BEFORE, settings=news.settings)
