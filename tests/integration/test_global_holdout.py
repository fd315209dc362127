"""The global holdout: a share of customers, always the same ones, who get no marketing at all
(a trigger's row held out, a broadcast's or series' skipped at send time), and the whole
programme measured against them in `ladder report lift`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from models import Customer, Delivery, DeliveryStatus
from models.tables import CUSTOMERS
from tests.integration.test_lift import ladder, run
from tests.support.factories import order_event
from worker.delivery.sending import deliver
from worker.measurement.assignment import (
    GLOBAL_REASON,
    global_holdout_sql,
    in_global_holdout,
)
from worker.measurement.lift import PROGRAMME, lifts, programme_lift
from worker.runtime import Runtime

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SHARE = 0.2


def held(runtime: Runtime, share: float = SHARE) -> Runtime:
    return Runtime(runtime.settings.model_copy(update={"global_holdout": share}))


def first_orders(db: Session, runtime: Runtime, count: int) -> dict[int, Customer]:
    events = [
        order_event(event_id=f"f-{i}", order_id=f"f{i}", at=T0, email=f"c{i}@example.com")
        for i in range(count)
    ]
    run(db, runtime, events, at=T0)
    return {int(c.id or 0): c for c in db.exec(select(Customer)).all()}


def test_the_same_customers_are_held_out_in_sql_and_python_and_get_no_trigger_email(
    db: Session, runtime: Runtime
) -> None:
    customers = first_orders(db, held(runtime), 400)

    in_sql = set(
        db.scalars(core_select(CUSTOMERS.c.id).where(global_holdout_sql(CUSTOMERS.c.id, SHARE)))
    )
    in_python = {i for i in customers if in_global_holdout(i, SHARE)}
    assert in_sql == in_python
    assert 0.14 < len(in_sql) / len(customers) < 0.26  # a fifth, give or take chance

    rows = db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).all()
    assert len(rows) == len(customers)  # every first order chose the customer…
    for row in rows:  # …and only the global holdout's rows are never sent
        is_held = row.customer_id in in_sql
        assert (row.status == DeliveryStatus.HELD_OUT) == is_held
        assert str(row.reason).startswith(GLOBAL_REASON) == is_held
    # Left out of the trigger's own lift: they are the whole programme's control group.
    assert [lift.trigger for lift in lifts(db, since=None, until=None)] == []


def test_a_row_made_before_the_holdout_began_is_skipped_when_it_would_go(
    db: Session, runtime: Runtime
) -> None:
    customers = first_orders(db, runtime, 30)  # no global holdout yet
    later = held(runtime, 0.5)
    row = next(
        r
        for r in db.exec(select(Delivery).where(col(Delivery.trigger) == "thank-you")).all()
        if in_global_holdout(r.customer_id, 0.5)
    )
    assert row.customer_id in customers and row.status == DeliveryStatus.SCHEDULED

    status = deliver(db, row.id or 0, now=row.send_at, runtime=later)

    db.refresh(row)
    assert (status, row.reason) == (
        DeliveryStatus.SKIPPED,
        "global holdout: 50% of customers get no marketing at all, never sent",
    )


def test_the_whole_programme_is_measured_against_the_global_holdout(
    db: Session, runtime: Runtime
) -> None:
    customers = first_orders(db, held(runtime), 300)
    held_ids = sorted(i for i in customers if in_global_holdout(i, SHARE))
    mailed_ids = sorted(set(customers) - set(held_ids))
    # In June half the mailed customers order again, a tenth of the held out.
    buyers = mailed_ids[::2] + held_ids[::10]
    again = [
        order_event(event_id=f"a-{i}", order_id=f"a{i}", at=T0 + 10 * DAY,
                    email=customers[i].email, total="20.00")
        for i in buyers
    ]  # fmt: skip
    run(db, held(runtime), again, at=T0 + 10 * DAY)

    lift = programme_lift(db, share=SHARE, since=T0 + DAY, until=T0 + 30 * DAY)

    assert lift is not None and lift.trigger == PROGRAMME
    assert (lift.held_out.customers, lift.mailed.customers) == (len(held_ids), len(mailed_ids))
    assert lift.mailed.converted == len(mailed_ids[::2])
    assert lift.held_out.converted == len(held_ids[::10])
    assert lift.mailed.revenue == 2000 * len(mailed_ids[::2])  # minor units, net
    assert lift.conversion.excludes_zero and lift.revenue.excludes_zero
    assert lift.verdict.startswith("Mailing raised conversion by +")
    assert programme_lift(db, share=0.0, since=T0, until=T0 + 30 * DAY) is None


@pytest.mark.commits
def test_ladder_report_lift_shows_the_whole_programme(
    db: Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_orders(db, held(runtime), 60)
    db.commit()
    monkeypatch.setenv("GLOBAL_HOLDOUT", "0.2")

    data = json.loads(ladder("report", "lift", "--json", "--since", "2026-05-01"))

    [whole] = [lift for lift in data["lift"] if lift["trigger"] == PROGRAMME]
    assert whole["held_out"]["customers"] + whole["mailed"]["customers"] == 60
    # Every customer's first order fell in the period: with no non-buyers, nothing to tell.
    assert whole["mailed"]["conversion_rate"] == whole["held_out"]["conversion_rate"] == 1.0
    assert whole["too_small"] is True
    shown = ladder("report", "lift", "--since", "2026-05-01")
    assert max(len(line) for line in shown.splitlines()) <= 80
    assert f"{PROGRAMME}: Too few to tell" in shown.replace("\n", " ")
