"""Trigger conditions: evaluated in the templates' sandbox, strict about names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from triggers import ConditionError, Trigger, TriggerSet
from triggers.matching import CompiledTrigger, UnknownNameError, compile_trigger
from worker.rendering.sandbox import make_environment


@pytest.fixture
def env(tmp_path: Path) -> SandboxedEnvironment:
    return make_environment(tmp_path)


def compiled(env: SandboxedEnvironment, when: str | None, **fields: Any) -> CompiledTrigger:
    trigger = Trigger(name="t", message="m", on="order.placed", when=when, **fields)
    return compile_trigger(env, trigger)


def context(
    segment: str | None = "champions", orders_count: int = 3, **extra: Any
) -> dict[str, Any]:
    customer = {"segment": segment, "orders_count": orders_count, "first_name": "Ana"}
    return {"customer": customer, "order": None, "before": None, **extra}


def test_a_segment_condition_holds_only_for_the_listed_segments(
    env: SandboxedEnvironment,
) -> None:
    trigger = compiled(env, "customer.segment in ['champions', 'loyal']")
    assert trigger.matches(context(segment="champions"))
    assert trigger.matches(context(segment="loyal"))
    assert not trigger.matches(context(segment="lost"))
    assert not trigger.matches(context(segment=None))


def test_a_trigger_without_when_always_matches(env: SandboxedEnvironment) -> None:
    trigger = compiled(env, None)
    assert trigger.names == frozenset()
    assert trigger.matches({})


def test_a_larger_than_usual_condition_compares_money_with_a_float_factor(
    env: SandboxedEnvironment,
) -> None:
    trigger = compiled(
        env, "before.orders_count >= 1 and order.total >= 1.5 * before.average_order_value"
    )
    before = {"orders_count": 2, "average_order_value": Decimal("40.00")}
    assert trigger.matches(context(order={"total": Decimal("60.00")}, before=before))
    assert not trigger.matches(context(order={"total": Decimal("59.99")}, before=before))


def test_a_condition_reading_a_dunder_attribute_is_refused_by_the_sandbox(
    env: SandboxedEnvironment,
) -> None:
    trigger = compiled(env, "customer.__class__.__name__ == 'dict'")
    with pytest.raises(ConditionError, match="unsafe") as caught:
        trigger.matches(context())
    assert isinstance(caught.value.__cause__, SecurityError)


def test_a_condition_cannot_change_the_customer_it_reads(env: SandboxedEnvironment) -> None:
    trigger = compiled(env, "customer.update({'segment': 'champions'}) is none")
    facts = context(segment="lost")
    with pytest.raises(ConditionError) as caught:
        trigger.matches(facts)
    assert isinstance(caught.value.__cause__, SecurityError)
    assert facts["customer"]["segment"] == "lost"


def test_a_typo_in_a_variable_is_refused_before_the_trigger_runs(
    env: SandboxedEnvironment,
) -> None:
    with pytest.raises(UnknownNameError, match=r"`when` reads custmer, which no trigger has"):
        compiled(env, "custmer.segment == 'champions'")


def test_a_dedupe_key_is_the_value_of_its_expression(env: SandboxedEnvironment) -> None:
    trigger = compiled(env, None, dedupe="order.id")
    assert trigger.dedupe_value(context(order={"id": "1001"})) == "1001"
    assert trigger.names == frozenset({"order"})
    assert compiled(env, None).dedupe_value(context()) is None


def test_a_typo_in_an_attribute_is_an_error_not_a_quiet_false(env: SandboxedEnvironment) -> None:
    trigger = compiled(env, "customer.segmnt != 'lost'")
    with pytest.raises(ConditionError, match="segmnt") as caught:
        trigger.matches(context())
    assert isinstance(caught.value.__cause__, UndefinedError)


def test_comparing_a_number_with_text_is_a_condition_error(env: SandboxedEnvironment) -> None:
    trigger = compiled(env, "customer.orders_count > '2'")
    with pytest.raises(ConditionError, match="not supported"):
        trigger.matches(context())


def test_names_lists_the_variables_the_condition_reads(env: SandboxedEnvironment) -> None:
    trigger = compiled(
        env, "before.orders_count >= 1 and order.total >= 1.5 * before.average_order_value"
    )
    assert trigger.names == frozenset({"before", "order"})
    assert compiled(env, "customer.segment == 'new'").names == frozenset({"customer"})


def test_a_trigger_set_finds_triggers_by_the_event_that_starts_or_cancels_them(
    env: SandboxedEnvironment,
) -> None:
    triggers = [
        Trigger(name="a", message="m", on="order.placed", unless=("order.cancelled",)),
        Trigger(name="b", message="m", on="order.placed", unless=("order.cancelled",)),
        Trigger(name="c", message="m", on="checkout.started"),
        Trigger(name="off", message="m", on="order.placed", enabled=False),
    ]
    found = TriggerSet.build(env, triggers)
    assert [c.trigger.name for c in found.started_by("order.placed")] == ["a", "b"]
    assert found.cancelled_by_event("order.cancelled") == ["a", "b"]
    assert found.started_by("order.refunded") == []
    assert "off" not in found.by_name
