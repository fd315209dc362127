"""`ladder broadcast plan|status` and `explain` as a marketer reads them, at 80 columns: the
reach before anything is sent, the A/B result per variant, the variant one customer got."""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from models import Delivery, DeliveryStatus, Event, EventStatus
from models.tables import DELIVERIES
from tests.integration.test_broadcasts import BEFORE, TOKYO_10, news_runtime, shop
from tests.integration.test_cli import run_ladder
from worker.authoring.broadcast_plan import plan_broadcast
from worker.authoring.broadcast_status import Rate, status_of
from worker.authoring.explaining import explain
from worker.cli.authoring import print_explanation
from worker.cli.broadcasts import print_plan, print_status
from worker.runtime import Runtime
from worker.scheduling import ab_split, broadcasts

AB = '\n[[variants]]\nname = "plain"\nshare = 0.5\n\n[[variants]]\nname = "personal"\nshare = 0.5\n'


@pytest.fixture
def ab_news(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> Iterator[Runtime]:
    yield from news_runtime(tmp_path, monkeypatch, database_url, extra=AB)


def printed(show: object) -> str:
    console = Console(file=io.StringIO(), width=80, record=True)
    show(console)  # type: ignore[operator]
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    return text


def row(text: str, first: str, *, table: int = 0) -> list[str]:
    """The cells of the row starting with `first` in the `table`-th table holding one."""
    lines = [line for line in text.splitlines() if line.startswith(f"│ {first} ")]
    return [cell.strip() for cell in lines[table].strip("│").split("│")]


def test_plan_counts_the_reach_per_segment_and_language_and_who_is_held_back(
    db: Session, ab_news: Runtime
) -> None:
    ids = shop(db)
    # The Tokyo customer's budget (1 a day) is spent by a note sent an hour before theirs.
    cause = Event(
        source="api",
        source_event_id="e-1",
        type="order.placed",
        customer_id=ids["tokyo"],
        occurred_at=BEFORE,
        received_at=BEFORE,
        payload={},
        status=EventStatus.PROCESSED,
    )
    db.add(cause)
    db.flush()
    db.execute(
        insert(DELIVERIES).values(
            dedupe_key="x",
            trigger="thank-you",
            message="thank_you",
            customer_id=ids["tokyo"],
            cause_event_id=cause.id,
            status="sent",
            send_at=TOKYO_10 - timedelta(hours=1),
            sent_at=TOKYO_10 - timedelta(hours=1),
            created_at=BEFORE,
            message_class="marketing",
            priority=0,
            attempts=1,
            failures=0,
        )
    )
    db.commit()
    found = plan_broadcast(
        db, ab_news.broadcasts["news"], env=ab_news.renderer.env, settings=ab_news.settings,
        now=BEFORE,
    )  # fmt: skip
    text = printed(lambda console: print_plan(found, console))

    assert "ladder broadcast plan news: 2027-01-05 (nothing is sent)" in " ".join(text.split())
    assert row(text, "champions") == ["champions", "en", "1", "0", "0"]
    assert row(text, "loyal") == ["loyal", "en", "0", "2", "1"]  # no consent, suppressed; Tokyo
    assert row(text, "all") == ["all", "", "1", "2", "1"]
    said = " ".join(text.split())
    assert "the first email goes 2027-01-05 01:00 UTC, the last 2027-01-05 18:00 UTC" in said
    assert len(db.exec(select(Delivery)).all()) == 1  # nothing was scheduled


def test_status_prints_the_runs_and_each_variants_opens_and_clicks_with_an_interval(
    db: Session, ab_news: Runtime
) -> None:
    ids = shop(db)
    broadcast = ab_news.broadcasts["news"]
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=ab_news.settings)
    broadcasts.resolve(
        db, run_id, broadcast, day=broadcast.send_on, env=ab_news.renderer.env,
        settings=ab_news.settings, now=BEFORE,
    )  # fmt: skip
    scheduled = col(Delivery.status) == DeliveryStatus.SCHEDULED
    db.execute(update(Delivery).where(scheduled).values(status="sent", sent_at=TOKYO_10))
    tokyo = col(Delivery.customer_id) == ids["tokyo"]
    db.execute(update(Delivery).where(tokyo).values(status="clicked"))
    db.commit()
    found = status_of(db, "news")
    text = printed(lambda console: print_status(found, console, "EUR"))

    assert row(text, str(run_id))[:3] == [str(run_id), "2027-01-05", "resolved"]
    assert found.runs[0].deliveries == {"clicked": 1, "sent": 1, "skipped": 2}
    shares = [("plain", 0.5), ("personal", 0.5)]
    got = Counter(ab_split.variant_of("broadcast:news", shares, ids[n]) for n in ("tokyo", "la"))
    tokyos = ab_split.variant_of("broadcast:news", shares, ids["tokyo"])
    cells = row(text, tokyos)
    assert cells[1] == str(got[tokyos])
    assert cells[2] == f"1 ({1 / got[tokyos]:.1%})"
    low, high = Rate(1, got[tokyos]).interval()
    assert cells[3] == f"{low * 100:.1f}-{high * 100:.1f} %"
    # Nobody ordered: the earnings table says so for each variant.
    assert row(text, tokyos, table=1)[1:3] == [str(got[tokyos]), "0 (0.0%)"]


def test_wilsons_interval_is_that_of_the_textbook() -> None:
    low, high = Rate(30, 100).interval()
    assert (round(low, 4), round(high, 4)) == (0.2189, 0.3958)


def test_explain_says_which_variant_a_customer_got_and_why(db: Session, ab_news: Runtime) -> None:
    ids = shop(db)
    broadcast = ab_news.broadcasts["news"]
    run_id = broadcasts.schedule(db, broadcast, now=BEFORE, settings=ab_news.settings)
    broadcasts.resolve(
        db, run_id, broadcast, day=broadcast.send_on, env=ab_news.renderer.env,
        settings=ab_news.settings, now=BEFORE,
    )  # fmt: skip
    found = explain(
        db, "tokyo@example.com", triggers=ab_news.triggers, env=ab_news.renderer.env,
        settings=ab_news.settings, now=BEFORE, broadcasts=ab_news.broadcasts,
    )  # fmt: skip
    assert found is not None
    text = " ".join(printed(lambda console: print_explanation(found, console)).split())
    mine = select(Delivery).where(col(Delivery.customer_id) == ids["tokyo"])
    got = db.exec(mine).one().ab_variant
    assert f"broadcast:news ({got})" in text.replace("│ ", "").replace(" │", "")
    [step] = [step for step in found.steps if step.event.type == "broadcast.scheduled"]
    [match] = step.matches
    assert (match.trigger, match.outcome) == ("broadcast:news", "in the audience")
    assert match.detail.startswith(f"A/B variant {got}: hash 0.")


def test_an_unknown_broadcast_is_refused_naming_the_ones_there_are(sqlite_template: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{sqlite_template}"}
    env.pop("REDIS_URL", None)
    env.pop("BROKER_URL", None)
    done = run_ladder(env, "broadcast", "plan", "whats-nu")
    assert done.returncode == 1
    assert "Error: no enabled broadcast named 'whats-nu'." in done.stderr
    assert "whats-new" in done.stderr
