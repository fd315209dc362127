"""CLV:CAC: what a customer is worth against what winning one costs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models import Customer
from tests.integration.test_predictions import NOW, shop_history
from worker.audience import segments
from worker.measurement import predictions, value
from worker.runtime import Runtime


def test_cac_comes_from_the_spend_and_the_first_orders_in_its_period(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    shop_history(db, runtime)
    segments.refresh(db, NOW)
    predictions.refresh(db, now=NOW, horizon_days=365)
    first_orders = [c.first_order_at for c in db.exec(select(Customer)).all() if c.first_order_at]
    start, end = min(first_orders).date(), (min(first_orders) + timedelta(days=40)).date()
    won = sum(start <= moment.date() <= end for moment in first_orders)
    path = tmp_path / "acquisition.toml"
    path.write_text(f"[[period]]\nstart = {start}\nend = {end}\nspend = 800.00\n", encoding="utf-8")

    found = value.report(db, now=NOW, currency="EUR", horizon_days=365, path=path)

    assert [(c.spend, c.new_customers) for c in found.cac] == [(80_000, won)]
    assert found.latest_cac == round(80_000 / won)
    by_segment = {s.segment: s for s in found.segments}
    assert sum(s.customers for s in found.segments) == len(first_orders)
    best = found.segments[0]  # the most valuable segment first
    assert best.predicted == max(s.predicted or 0 for s in found.segments)
    assert found.ratio(best) == pytest.approx((best.predicted or 0) / (found.latest_cac or 1))
    assert found.new_customer_value is not None and found.new_customer_value > 0
    said = found.verdict()
    assert said.startswith(f"A new customer costs {found.money(found.latest_cac or 0)} to win")
    assert "first 365 days" in said
    assert set(by_segment) <= {"champions", "loyal", "new", "potential", "at_risk",
                               "hibernating", "lost"}  # fmt: skip


def test_without_a_spend_the_report_says_what_to_add(
    db: Session, runtime: Runtime, tmp_path: Path
) -> None:
    shop_history(db, runtime)
    found = value.report(db, now=NOW, currency="EUR", horizon_days=365, path=tmp_path / "none.toml")
    assert found.cac == [] and found.latest_cac is None
    assert "add the marketing spend per period to measurement/acquisition.toml" in found.verdict()


def test_an_acquisition_file_that_cannot_be_used_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "acquisition.toml"
    path.write_text("[[period]]\nstart = 2026-02-01\nend = 2026-01-01\nspend = 5\n")
    with pytest.raises(value.AcquisitionError, match=r"period\.0: end 2026-01-01 is before start"):
        value.load_acquisition(path)
