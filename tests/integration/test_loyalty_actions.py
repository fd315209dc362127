"""Points for actions told through `POST /events` (its bearer token), applied by the real
actors: an action earns once per event, at most its limit per period (the rest refused with
the reason), the tier multiplier where the file asks for it, and a `points.earned` event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select
from sqlmodel import Session

from models.tables import CUSTOMERS, EVENTS, LOYALTY_ENTRIES, LOYALTY_MEMBERS
from tests.integration.test_events_api import bearer
from tests.support.brokers import drain
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.web import create_app

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ANA = "ana@example.com"


@pytest.fixture(autouse=True)
def programme_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shop runs the shipped points-and-causes programme (before `runtime` reads it)."""
    monkeypatch.setenv("LOYALTY_PROGRAMME", "points-and-causes")


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    with TestClient(create_app(runtime.settings), headers=bearer(runtime.settings)) as client:
        yield client


def action(event_id: str, event_type: str, *, at: datetime, email: str = ANA) -> dict[str, Any]:
    return {
        "source": "api",
        "id": event_id,
        "type": event_type,
        "occurred_at": at.isoformat(),
        "customer": {"email": email},
        "data": {"product_id": "p-9", "rating": 5} if event_type == "review.posted" else {},
    }


def tell(client: TestClient, broker: StubBroker, *events: dict[str, Any]) -> None:
    """Posts the events as the shop's app would, then lets the workers apply them."""
    answer = client.post("/events", json=list(events))
    assert answer.status_code == 202, answer.text
    drain(broker)


def ledger_of(db: Session, email: str = ANA) -> list[tuple[str, int, str | None]]:
    """(kind, points, reason) of the customer's entries, oldest first."""
    db.expire_all()
    query = (
        select(LOYALTY_ENTRIES.c.kind, LOYALTY_ENTRIES.c.points, LOYALTY_ENTRIES.c.reason)
        .join(CUSTOMERS, CUSTOMERS.c.id == LOYALTY_ENTRIES.c.customer_id)
        .where(CUSTOMERS.c.email == email)
        .order_by(LOYALTY_ENTRIES.c.id)
    )
    found = [(row.kind, row.points, row.reason) for row in db.execute(query)]
    db.rollback()  # SQLite: end the read, whose transaction holds the file's lock
    return found


def balance(db: Session, email: str = ANA) -> int:
    query = (
        select(LOYALTY_MEMBERS.c.points)
        .join(CUSTOMERS, CUSTOMERS.c.id == LOYALTY_MEMBERS.c.customer_id)
        .where(CUSTOMERS.c.email == email)
    )
    points = int(db.execute(query).scalar_one())
    db.rollback()
    return points


def earned_events(db: Session) -> list[dict[str, Any]]:
    query = select(EVENTS.c.payload).where(EVENTS.c.type == "points.earned").order_by(EVENTS.c.id)
    found = [row.payload["data"] for row in db.execute(query)]
    db.rollback()
    return found


def test_a_review_told_twice_earns_its_points_once_with_a_points_earned_event(
    client: TestClient, stub_broker: StubBroker, db: Session
) -> None:
    review = action("rev-1", "review.posted", at=T0)
    tell(client, stub_broker, review)
    tell(client, stub_broker, review)  # the app retried: a duplicate, nothing more

    assert ledger_of(db) == [("action", 50, None)]
    assert balance(db) == 50
    assert earned_events(db) == [
        {
            "points": 50,
            "order_id": None,
            "available_at": T0.isoformat(),
            "action": "review.posted",
            "first": True,  # her first points: the welcome tells them
        }
    ]
    joined = select(EVENTS.c.payload).where(EVENTS.c.type == "loyalty.joined")
    assert [row.payload["data"] for row in db.execute(joined)] == [
        {"programme": "points-and-causes", "points": 50, "pending": 0}  # a review made her one
    ]


def test_a_second_review_within_30_days_is_refused_with_the_reason_and_a_later_one_earns(
    client: TestClient, stub_broker: StubBroker, db: Session
) -> None:
    tell(
        client,
        stub_broker,
        action("rev-1", "review.posted", at=T0),
        action("rev-2", "review.posted", at=T0 + 3 * DAY),
        action("rev-3", "review.posted", at=T0 + 31 * DAY),
    )

    assert ledger_of(db) == [
        ("action", 50, None),
        (
            "refused",
            0,
            "over the limit of 1 per 30d for review.posted: 1 earned within 30d of this one",
        ),
        ("action", 50, None),
    ]
    assert balance(db) == 100
    assert len(earned_events(db)) == 2  # the refused one tells no trigger anything


def test_a_cap_of_three_referrals_a_month_earns_three_and_refuses_the_fourth(
    client: TestClient, stub_broker: StubBroker, db: Session
) -> None:
    tell(
        client,
        stub_broker,
        *(action(f"ref-{n}", "referral.made", at=T0 + n * DAY) for n in range(4)),
    )

    kinds = [kind for kind, _, _ in ledger_of(db)]
    assert kinds == ["action", "action", "action", "refused"]
    assert balance(db) == 600


def test_each_kind_of_action_earns_what_the_file_says_and_the_cap_is_per_action(
    client: TestClient, stub_broker: StubBroker, db: Session
) -> None:
    tell(
        client,
        stub_broker,
        action("signup", "customer.created", at=T0),
        action("follow", "social.followed", at=T0 + DAY),
        action("bday", "birthday.reached", at=T0 + 2 * DAY),
        action("survey", "survey.answered", at=T0 + 3 * DAY),
        action("review", "review.posted", at=T0 + 4 * DAY),
        action("follow-again", "social.followed", at=T0 + 5 * DAY),
    )

    assert [points for _, points, _ in ledger_of(db)] == [100, 20, 100, 10, 50, 0]
    assert balance(db) == 280


def test_a_gold_member_earns_a_review_at_the_tier_multiplier(
    client: TestClient, stub_broker: StubBroker, db: Session
) -> None:
    order = {
        **action("ord-1", "order.placed", at=T0),
        "order": {"id": "1", "total": "600.00", "currency": "EUR"},
    }
    tell(client, stub_broker, order)  # 600 EUR in 12 months: gold, multiplier 2
    tell(client, stub_broker, action("rev-1", "review.posted", at=T0 + DAY))

    assert [(kind, points) for kind, points, _ in ledger_of(db)] == [("earn", 0), ("action", 100)]
    assert earned_events(db)[-1]["points"] == 100


def test_reviews_told_at_once_to_four_workers_earn_the_limit_once(
    client: TestClient, stub_broker: StubBroker, db: Session
) -> None:
    tell(client, stub_broker, action("signup", "customer.created", at=T0))
    for n in range(8):  # each its own request, so its own message: the workers race
        answer = client.post("/events", json=action(f"rev-{n}", "review.posted", at=T0 + n * DAY))
        assert answer.status_code == 202
    drain(stub_broker, threads=4)

    kinds = [kind for kind, _, _ in ledger_of(db)]
    assert kinds.count("action") == 2 and kinds.count("refused") == 7  # sign-up, one review
    assert balance(db) == 150  # and the balance is the ledger's sum
