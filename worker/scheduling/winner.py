"""A broadcast's test-then-winner, the parts that touch no run: who is in the test share (its
own hash), when the winner is due, and which variant won (`broadcasts.resolve_winner` puts them
to work)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, literal

from models.tables import CUSTOMERS
from models.types import to_major
from triggers.broadcast import Broadcast
from triggers.schema import Variant
from worker.measurement.assignment import SCALE, scaled_position_sql
from worker.measurement.variants import VariantResult
from worker.scheduling import broadcast_times
from worker.settings import Settings

C = CUSTOMERS.c


TEST = ":test"  # the experiment of who is in a broadcast's test share: its name and this


def in_test(broadcast: Broadcast) -> ColumnElement[bool]:
    """Who of the audience is in the test share (a hash of their id, its own experiment)."""
    assert broadcast.test is not None
    share = literal(int(broadcast.test.share * SCALE))
    return scaled_position_sql(broadcast.trigger_name + TEST, C.id) < share  # type: ignore[no-any-return]


def winner_time(broadcast: Broadcast, day: date, settings: Settings) -> datetime:
    """When the clock picks the winner of the run of `day` and resolves the rest: just before
    the rest's first send time, `wait` after the test's."""
    assert broadcast.test is not None
    wait = broadcast.test.wait
    if broadcast.in_customer_zone:  # a whole number of days: the same time of day, later
        return broadcast_times.resolve_at(broadcast, day + timedelta(days=wait.days), settings)
    return broadcast_times.resolve_at(broadcast, day, settings) + wait


def pick_winner(
    variants: tuple[Variant, ...], results: list[VariantResult], metric: str, currency: str
) -> tuple[Variant, str]:
    """The variant that did best by `metric` among those of the test, and every variant's
    score in words; a tie goes to the first in the file, as does a test that sent nothing."""
    found = {result.variant: result for result in results}
    if not any(found.get(v.name) and found[v.name].sent for v in variants):
        return variants[0], f"no email of the test went out: {variants[0].name}, the first"

    def said(variant: Variant) -> str:
        result = found.get(variant.name)
        if result is None or not result.sent:
            return f"{variant.name} none sent"
        if metric == "revenue":
            each = to_major(round(result.revenue_per_email), currency)
            return f"{variant.name} {each:,.2f} {currency} an email of {result.sent:,}"
        return f"{variant.name} {result.score(metric):.1%} of {result.sent:,}"

    best = max(
        enumerate(variants),
        key=lambda item: (found[item[1].name].score(metric) if item[1].name in found else -1.0,
                          -item[0]),
    )[1]  # fmt: skip
    return best, f"{metric}: " + ", ".join(said(v) for v in variants)
