"""`retention.churn` by quarter over a year cut at odd days, as the report asks by default (the
year up to tomorrow): the first and last quarters clipped, each against the definitions
worked out by hand (the shop and the hand count are test_churn's), revenue too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from tests.integration.test_churn import by_hand, shop
from worker.measurement.retention import churn

SINCE = datetime(2025, 2, 17, 13, tzinfo=UTC)
UNTIL = datetime(2025, 12, 9, tzinfo=UTC)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clipped_quarters_are_those_worked_out_by_hand(db: Session, seed: int) -> None:
    told = shop(db, seed)

    found = churn(db, since=SINCE, until=UNTIL, by="quarter")

    assert (found[0].since, found[0].until) == (SINCE, datetime(2025, 4, 1, tzinfo=UTC))
    assert found[-1].until == UNTIL
    for period in found:
        active, churned, buyers, repeat, mean_gap = by_hand(told, period.since, period.until)
        assert (period.active, period.churned) == (active, churned), period.since
        assert (period.buyers, period.repeat_buyers) == (buyers, repeat), period.since
        assert period.revenue == 1000 * sum(
            counted and period.since <= at < period.until for _, at, counted in told
        )
        if mean_gap is None:
            assert period.mean_gap_days is None
        else:
            assert period.mean_gap_days == pytest.approx(mean_gap, rel=1e-9), period.since
