"""Evaluates trigger conditions in the templates' sandbox and indexes triggers by event type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from triggers.schema import Trigger

Condition = Callable[..., Any]


class ConditionError(Exception):
    """A `when` expression failed to evaluate (a typo in a name, a type mismatch…)."""


@dataclass(frozen=True)
class CompiledTrigger:
    trigger: Trigger
    condition: Condition | None
    names: frozenset[str]  # the variables the condition reads, so unused ones aren't computed

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True when the trigger has no `when`, or it holds. Raises ConditionError."""
        if self.condition is None:
            return True
        try:
            return bool(self.condition(**context))
        except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            raise ConditionError(f"trigger {self.trigger.name!r}: `when` failed: {exc}") from exc


def compile_trigger(env: SandboxedEnvironment, trigger: Trigger) -> CompiledTrigger:
    """Compiles `when`; raises jinja2.TemplateSyntaxError for a malformed expression."""
    if trigger.when is None:
        return CompiledTrigger(trigger, None, frozenset())
    names = meta.find_undeclared_variables(env.parse("{{ " + trigger.when + " }}"))
    condition = env.compile_expression(trigger.when, undefined_to_none=False)
    return CompiledTrigger(trigger, condition, frozenset(names))


@dataclass
class TriggerSet:
    """All enabled triggers, looked up by the event type that starts them or cancels them."""

    by_name: dict[str, CompiledTrigger] = field(default_factory=dict)
    by_event: dict[str, list[CompiledTrigger]] = field(default_factory=dict)
    cancelled_by: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, env: SandboxedEnvironment, triggers: Iterable[Trigger]) -> TriggerSet:
        found = cls()
        for trigger in triggers:
            if not trigger.enabled:
                continue
            compiled = compile_trigger(env, trigger)
            found.by_name[trigger.name] = compiled
            found.by_event.setdefault(trigger.on, []).append(compiled)
            for event_type in trigger.unless:
                found.cancelled_by.setdefault(event_type, []).append(trigger.name)
        return found

    def started_by(self, event_type: str) -> list[CompiledTrigger]:
        return self.by_event.get(event_type, [])

    def cancelled_by_event(self, event_type: str) -> list[str]:
        return self.cancelled_by.get(event_type, [])
