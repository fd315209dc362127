"""The lift's verdict in words: a difference inside chance is said to be one, and too few
customers say how many it would take."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from worker.measurement.lift import Group, _lift, needed_per_group

T0 = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW_S = 5 * 86400


def rows(mailed: int, held: int) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            customer_id=i,
            status="held_out" if i >= mailed else "sent",
            send_at=T0,
            attribution_window_s=WINDOW_S,
        )
        for i in range(mailed + held)
    ]


def bought(customers: range) -> dict[int, tuple[list[datetime], list[SimpleNamespace]]]:
    at = T0.replace(day=3)
    return {c: ([at], [SimpleNamespace(id=c, placed_at=at, net=2500)]) for c in customers}


def test_a_difference_inside_chance_is_no_difference_shown() -> None:
    # 20 of 100 mailed bought, 18 of 100 held out: two points, well inside the interval.
    orders = {**bought(range(20)), **bought(range(100, 118))}

    lift = _lift("win-back", rows(100, 100), orders)

    assert not lift.too_small
    assert lift.conversion.low < 0 < lift.conversion.high
    assert lift.verdict.startswith("No difference shown: conversion differs by +2.0 points")


def test_too_few_held_out_says_how_many_a_group_would_need() -> None:
    orders = {**bought(range(30)), **bought(range(100, 101))}

    lift = _lift("birthday", rows(100, 8), orders)

    assert lift.too_small
    need = needed_per_group(lift.mailed, lift.held_out)
    assert need is not None and f"about {need:,} a group" in lift.verdict


def test_no_difference_needs_no_estimate() -> None:
    assert needed_per_group(Group(50, 5, 0), Group(50, 5, 0)) is None
