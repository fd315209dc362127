"""Evaluates trigger conditions in the templates' sandbox and indexes triggers by event type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from triggers.schema import Trigger

Condition = Callable[..., Any]


# What a `when` or `dedupe` expression may read (worker/rendering/variables.py builds them).
KNOWN_NAMES = frozenset({"event", "customer", "order", "before", "shop", "now"})


class UnknownNameError(Exception):
    """An expression reads a variable no trigger context has (a typo, most often)."""


class ConditionError(Exception):
    """A `when` expression failed to evaluate (a typo in a name, a type mismatch…)."""


# What a condition's own code can raise: a bug in it, never retried (work past the sandbox's
# bounds raises a TemplateError; see worker/rendering/bounds.py).
_CONDITION_BUGS = (
    TemplateError,
    TypeError,
    ValueError,
    ArithmeticError,
    RecursionError,
    MemoryError,
)


@dataclass(frozen=True)
class CompiledTrigger:
    trigger: Trigger
    condition: Condition | None
    names: frozenset[str]  # the variables the conditions read, so unused ones aren't computed
    dedupe: Condition | None = None

    def dedupe_value(self, context: Mapping[str, Any]) -> str | None:
        """The dedupe key's value for this context; None without a `dedupe` or when it is empty.
        Raises ConditionError."""
        if self.dedupe is None:
            return None
        try:
            value = self.dedupe(**context)
        except _CONDITION_BUGS as exc:
            raise ConditionError(f"trigger {self.trigger.name!r}: `dedupe` failed: {exc}") from exc
        return None if value is None or value == "" else str(value)

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True when the trigger has no `when`, or it holds. Raises ConditionError."""
        if self.condition is None:
            return True
        try:
            return bool(self.condition(**context))
        except _CONDITION_BUGS as exc:
            raise ConditionError(f"trigger {self.trigger.name!r}: `when` failed: {exc}") from exc


def compile_expression(
    env: SandboxedEnvironment, field: str, text: str
) -> tuple[Condition, set[str]]:
    """Compiles one expression and names what it reads. Raises jinja2.TemplateSyntaxError
    for a malformed one, UnknownNameError for one reading a name no context has."""
    names = meta.find_undeclared_variables(env.parse("{{ " + text + " }}"))
    unknown = sorted(names - KNOWN_NAMES)
    if unknown:
        raise UnknownNameError(
            f"`{field}` reads {', '.join(unknown)}, which no trigger has: use "
            + ", ".join(sorted(KNOWN_NAMES))
        )
    return env.compile_expression(text, undefined_to_none=False), names


def compile_trigger(env: SandboxedEnvironment, trigger: Trigger) -> CompiledTrigger:
    """Compiles `when` and `dedupe`; raises jinja2.TemplateSyntaxError for a malformed
    expression, UnknownNameError for a misspelt variable."""
    condition = dedupe = None
    names: set[str] = set()
    if trigger.when is not None:
        condition, read = compile_expression(env, "when", trigger.when)
        names |= read
    if trigger.dedupe is not None:
        dedupe, read = compile_expression(env, "dedupe", trigger.dedupe)
        names |= read
    return CompiledTrigger(trigger, condition, frozenset(names), dedupe)


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
