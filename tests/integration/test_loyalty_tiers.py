"""Tiers: an order that lifts the 12-month spend moves the member up at once, and earns more
from then on; a member below their tier moves down only after the grace, each move told once
as a `tier.changed` event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from models.tables import EVENTS, LOYALTY_ENTRIES, LOYALTY_MEMBERS
from tests.integration.test_loyalty_ledger import PROGRAMME, handle, programme_runs
from worker.loyalty import tiers
from worker.runtime import Runtime

__all__ = ["programme_runs"]  # the autouse fixture: the shop runs the shipped programme

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def tier_of(db: Session) -> tuple[str | None, datetime | None]:
    row = db.execute(select(LOYALTY_MEMBERS.c.tier, LOYALTY_MEMBERS.c.below_since)).one()
    return row.tier, row.below_since


def tier_events(db: Session) -> list[dict[str, Any]]:
    query = select(EVENTS.c.payload).where(EVENTS.c.type == "tier.changed").order_by(EVENTS.c.id)
    return [row.payload["data"] for row in db.execute(query)]


def test_an_order_that_lifts_the_spend_past_250_moves_up_to_silver_and_the_next_earns_more(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="200.00")
    assert tier_of(db) == ("member", None)
    assert tier_events(db) == []  # joining the first tier is no news

    handle(db, runtime, at=T0 + DAY, event_id="e2", order_id="2", total="100.00")
    handle(db, runtime, at=T0 + 2 * DAY, event_id="e3", order_id="3", total="100.00")

    assert tier_of(db) == ("silver", None)
    assert tier_events(db) == [{"from": "member", "to": "silver", "direction": "up"}]
    earned = db.execute(select(LOYALTY_ENTRIES.c.pending).order_by(LOYALTY_ENTRIES.c.id))
    assert list(earned.scalars()) == [200, 100, 125]  # the order that lifted her earned at 1x


def test_a_member_below_their_tier_keeps_it_through_the_grace_then_moves_down_once(
    db: Session, runtime: Runtime
) -> None:
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="300.00")
    assert tier_of(db)[0] == "silver"
    currency = runtime.settings.default_currency
    a_year_on = T0 + 366 * DAY  # the order has left the 12 months

    def review(at: datetime) -> list[tiers.Move]:
        return tiers.review_all(db, PROGRAMME, currency=currency, now=at)  # type: ignore[arg-type]

    assert review(a_year_on) == []
    assert tier_of(db) == ("silver", a_year_on)  # the grace starts
    assert review(a_year_on + 29 * DAY) == []
    [move] = review(a_year_on + 30 * DAY)
    assert (move.old, move.new, move.direction) == ("silver", "member", "down")
    assert review(a_year_on + 31 * DAY) == []
    assert tier_events(db)[-1] == {"from": "silver", "to": "member", "direction": "down"}
    assert len(tier_events(db)) == 2


def test_tiers_by_points_the_daily_review_moves_down_after_the_grace_and_back_up_at_once(
    db: Session, runtime: Runtime
) -> None:
    """A programme tiered by the points of the last 12 months: the review finds the member
    whose points slid below their tier, and one whose points reach a tier an order did not
    place them in (a correction of the programme file) moves up at the review."""
    assert PROGRAMME is not None
    by_points = PROGRAMME.model_copy(update={"tiers_by": "points"})
    currency = runtime.settings.default_currency
    handle(db, runtime, at=T0, event_id="e1", order_id="1", total="300.00")
    db.execute(LOYALTY_MEMBERS.update().values(tier="member"))  # as if spend had placed her

    [up] = tiers.review_all(db, by_points, currency=currency, now=T0 + DAY)
    assert (up.old, up.new, up.direction) == ("member", "silver", "up")
    a_year_on = T0 + 366 * DAY
    assert tiers.review_all(db, by_points, currency=currency, now=a_year_on) == []
    assert tier_of(db) == ("silver", a_year_on)
    [down] = tiers.review_all(db, by_points, currency=currency, now=a_year_on + 30 * DAY)
    assert (down.old, down.new) == ("silver", "member")
    assert tiers.review_all(db, by_points, currency=currency, now=a_year_on + 31 * DAY) == []
