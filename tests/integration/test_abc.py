"""ABC classes: the customers who matter most, by a weighted score the shop can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models import Customer
from tests.support.factories import order_event
from worker.intake.ingest import store_events
from worker.measurement import abc
from worker.processing.events import process_many
from worker.runtime import Runtime
from worker.scheduling.matching import Scheduler
from worker.settings import PROJECT_ROOT

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def history(db: Session, runtime: Runtime) -> None:
    """Ten customers: customer n placed n + 1 orders of 10·(n + 1) over the last year, the
    first of them long ago; the even ones paid each order a minute after placing it, the odd
    ones a week after."""
    events = []
    for n in range(10):
        email = f"c{n}@example.com"
        for k in range(n + 1):
            at = NOW - timedelta(days=300 - 25 * k)
            total = f"{10 * (n + 1)}.00"
            order_id = f"{n}-{k}"
            events.append(
                order_event(event_id=order_id, order_id=order_id, at=at, email=email, total=total)
            )
            paid_at = at + (timedelta(minutes=1) if n % 2 == 0 else timedelta(days=7))
            events.append(
                order_event(event_id=f"{order_id}-paid", order_id=order_id, at=paid_at,
                            email=email, total=total, type="order.paid",
                            order={"placed_at": at.isoformat()})
            )  # fmt: skip
    ids = store_events(db, events, now=NOW).stored
    process_many(db, ids, now=NOW, scheduler=Scheduler(runtime.triggers, runtime.settings))


def classes(db: Session) -> dict[str, str | None]:
    db.expire_all()
    return {c.email.split("@")[0]: c.abc for c in db.exec(select(Customer)).all()}


def test_the_best_fifth_is_a_the_next_three_tenths_b_and_the_rest_c(
    db: Session, runtime: Runtime
) -> None:
    history(db, runtime)
    scheme = abc.load_scheme(PROJECT_ROOT / "measurement" / "abc.toml")

    done = abc.classify(db, now=NOW, scheme=scheme)

    assert done.counts == {"A": 2, "B": 3, "C": 5}
    found = classes(db)
    by_class = {k: sorted(n for n, c in found.items() if c == k) for k in ("A", "B", "C")}
    # The most orders and revenue are A; c4 pays within a minute, c5 a week after: c4 is B.
    assert by_class == {"A": ["c8", "c9"], "B": ["c4", "c6", "c7"],
                        "C": ["c0", "c1", "c2", "c3", "c5"]}  # fmt: skip
    assert set(done.used) == {"volume", "payment_speed", "loyalty"}
    assert done.left_out == {
        "potential": "no CLV predictions yet (the weekly fit needs 30 customers, 10 buying again)",
        "profitability": "no line costs known (orders carry no cost)",
        "satisfaction": "no NPS answers (survey.answered events) yet",
    }
    assert done.written == 10
    assert abc.classify(db, now=NOW, scheme=scheme).written == 0  # nothing moved


def test_paying_fast_counts_when_the_shop_weighs_it(db: Session, runtime: Runtime) -> None:
    """Weighing only payment speed: the even customers, who paid within a minute, are first."""
    history(db, runtime)
    only_speed = abc.Scheme(weights={"payment_speed": 1.0}, a_share=0.5, b_share=0.1)

    abc.classify(db, now=NOW, scheme=only_speed)

    found = classes(db)
    assert {found[f"c{n}"] for n in range(0, 10, 2)} == {"A"}
    assert {found[f"c{n}"] for n in range(1, 10, 2)} <= {"B", "C"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a_share = 0.2\n[weights]\nvolum = 1\n", "abc.toml:2: weights: unknown dimension 'volum'"),
        ("a_share = 0.7\nb_share = 0.4\n", "abc.toml: (file): a_share + b_share must leave"),
        ("b_share = 1.5\n", "abc.toml:1: b_share: Input should be less than 1"),
        ("[weights]\nvolume = -1\n", "abc.toml:1: weights: weights are 0 or more"),
        ("a_share = ", "not valid TOML"),
    ],
)
def test_a_scheme_file_that_cannot_be_used_is_refused_naming_it(
    tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "abc.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(abc.SchemeError, match=str(path)) as refused:
        abc.load_scheme(path)
    assert said in str(refused.value)


def test_a_shop_with_no_buyer_yet_classifies_nobody(db: Session) -> None:
    """The clock's weekly job on a new shop: nothing to rank, nothing written."""
    done = abc.classify(db, now=NOW, scheme=abc.Scheme())
    assert (done.counts, done.written) == ({"A": 0, "B": 0, "C": 0}, 0)
