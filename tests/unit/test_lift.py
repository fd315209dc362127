"""The lift's verdict in words: a difference inside chance is said to be one, and too few
customers say how many it would take."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from worker.measurement.lift import Group, _lift, needed_per_group


def group(customers: int, bought: int, each: int = 2500) -> SimpleNamespace:
    """A group's moments as the lift's statement returns them: `bought` of `customers`
    spent `each`, the others nothing."""
    return SimpleNamespace(customers=customers, converted=bought, revenue=bought * each,
                           squares=float(bought * each**2))  # fmt: skip


def test_a_difference_inside_chance_is_no_difference_shown() -> None:
    # 20 of 100 mailed bought, 18 of 100 held out: two points, well inside the interval.
    lift = _lift("win-back", {False: group(100, 20), True: group(100, 18)})

    assert not lift.too_small
    assert lift.conversion.low < 0 < lift.conversion.high
    assert lift.verdict.startswith("No difference shown: conversion differs by +2.0 points")


def test_too_few_held_out_says_how_many_a_group_would_need() -> None:
    lift = _lift("birthday", {False: group(100, 30), True: group(8, 1)})

    assert lift.too_small
    need = needed_per_group(lift.mailed, lift.held_out)
    assert need is not None and f"about {need:,} a group" in lift.verdict


def test_the_revenue_interval_is_welch_s_from_the_sums_of_squares() -> None:
    lift = _lift("win-back", {False: group(100, 20), True: group(100, 18)})

    # Per customer: mailed 500.0 (sd of twenty 2500s among 100), held out 450.0.
    sd_mailed = ((20 * 2500**2 - 100 * 500.0**2) / 99) ** 0.5
    sd_held = ((18 * 2500**2 - 100 * 450.0**2) / 99) ** 0.5
    se = (sd_mailed**2 / 100 + sd_held**2 / 100) ** 0.5
    assert lift.revenue.difference == 50.0
    assert lift.revenue.low == pytest.approx(50.0 - 1.959964 * se)


def test_no_difference_needs_no_estimate() -> None:
    assert needed_per_group(Group(50, 5, 0), Group(50, 5, 0)) is None
