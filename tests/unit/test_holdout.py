"""Holdouts: deterministic, close to the share asked, independent between triggers."""

from __future__ import annotations

from worker.scheduling.holdout import is_held_out


def test_the_same_customer_is_always_in_or_out_of_the_same_trigger() -> None:
    first = [is_held_out("win-back", customer, 0.1) for customer in range(1000)]
    again = [is_held_out("win-back", customer, 0.1) for customer in range(1000)]
    assert first == again


def test_the_control_group_is_close_to_the_share_asked() -> None:
    held = sum(is_held_out("win-back", customer, 0.1) for customer in range(20_000))
    assert 1800 <= held <= 2200


def test_each_trigger_draws_its_own_control_group() -> None:
    a = {c for c in range(20_000) if is_held_out("win-back", c, 0.1)}
    b = {c for c in range(20_000) if is_held_out("birthday", c, 0.1)}
    assert 100 <= len(a & b) <= 300  # about 10 % of 10 %: independent, not the same people


def test_no_holdout_holds_nobody() -> None:
    assert not any(is_held_out("win-back", customer, 0.0) for customer in range(1000))
