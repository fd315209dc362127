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
    """A `when`, `send_if` or `dedupe` expression failed to evaluate (a name the context does
    not have, a type mismatch…). `field` names which; the message starts with CONDITION_FAILED
    after the trigger's name, so `ladder status` can count these apart from other failures."""

    def __init__(self, trigger: str, field: str, exc: BaseException) -> None:
        self.trigger, self.field, self.cause = trigger, field, type(exc).__name__
        super().__init__(f"trigger {trigger!r}: `{field}` {CONDITION_FAILED} {exc}")


# The words every ConditionError's message holds: a delivery row's reason says it.
CONDITION_FAILED = "failed at run time:"


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
    send_condition: Condition | None = None

    def dedupe_value(self, context: Mapping[str, Any]) -> str | None:
        """The dedupe key's value for this context; None without a `dedupe` or when it is empty.
        Raises ConditionError."""
        if self.dedupe is None:
            return None
        try:
            value = self.dedupe(**context)
        except _CONDITION_BUGS as exc:
            raise ConditionError(self.trigger.name, "dedupe", exc) from exc
        return None if value is None or value == "" else str(value)

    def matches(self, context: Mapping[str, Any]) -> bool:
        """True when the trigger has no `when`, or it holds. Raises ConditionError."""
        if self.condition is None:
            return True
        try:
            return bool(self.condition(**context))
        except _CONDITION_BUGS as exc:
            raise ConditionError(self.trigger.name, "when", exc) from exc

    def may_send(self, context: Mapping[str, Any]) -> bool:
        """True when the trigger has no `send_if`, or it holds (send time only). Raises
        ConditionError."""
        if self.send_condition is None:
            return True
        try:
            return bool(self.send_condition(**context))
        except _CONDITION_BUGS as exc:
            raise ConditionError(self.trigger.name, "send_if", exc) from exc


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
    """Compiles `when`, `send_if` and `dedupe`; raises jinja2.TemplateSyntaxError for a
    malformed expression, UnknownNameError for a misspelt variable."""
    compiled: dict[str, Condition | None] = {}
    names: set[str] = set()
    for field_name in EXPRESSIONS:
        text = getattr(trigger, field_name)
        compiled[field_name] = None
        if text is not None:
            compiled[field_name], read = compile_expression(env, field_name, text)
            names |= read
    return CompiledTrigger(
        trigger,
        compiled["when"],
        frozenset(names),
        compiled["dedupe"],
        send_condition=compiled["send_if"],
    )


# The fields of a trigger that are expressions, evaluated in the templates' sandbox.
EXPRESSIONS = ("when", "send_if", "dedupe")


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

    def listens_to(self, event_type: str) -> bool:
        """Whether some trigger starts on `event_type` or is cancelled by it."""
        return event_type in self.by_event or event_type in self.cancelled_by
