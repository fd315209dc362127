"""`ladder check` on names: what each trigger's `when`, `send_if` and `dedupe`, and each
template of the message it sends, read, against the context that trigger really gets."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from jinja2 import Environment

from triggers import EXPRESSIONS, Trigger, line_of
from triggers.matching import KNOWN_NAMES
from worker.authoring.names import expression_unknowns, template_unknowns
from worker.delivery.composing import COMPOSED_NAMES
from worker.event_types import BROADCAST
from worker.rendering.renderer import ADDED_NAMES, Renderer
from worker.rendering.variables import Shape, context_shape
from worker.settings import Settings

# The widest context, for a message no trigger sends (an order event's: it has everything).
_ANY_ENTRY = "order.placed"


def condition_context(entry: str, settings: Settings) -> dict[str, Shape]:
    """What a condition reads: the scheduler's context (`build_context`), its known names."""
    return {k: v for k, v in context_shape(entry, settings).items() if k in KNOWN_NAMES}


def email_context(entry: str, settings: Settings) -> dict[str, Shape]:
    """What a template reads: the same context, with what composing and rendering add."""
    added = dict.fromkeys((*COMPOSED_NAMES, *ADDED_NAMES))
    return {**context_shape(entry, settings), **added}


def condition_problems(
    path: Path, trigger: Trigger, env: Environment, settings: Settings
) -> list[str]:
    """`file:line: field: …` for each name a condition reads that its context lacks."""
    text = path.read_text(encoding="utf-8")
    top = condition_context(trigger.on, settings)
    problems = []
    for field in EXPRESSIONS:
        expression = getattr(trigger, field)
        if expression is None:
            continue
        line = line_of(text, field)
        where = f"{path}:{line}" if line else str(path)
        problems += [
            f"{where}: {field}: {unknown.problem}"
            for unknown in expression_unknowns(env, expression, top)
        ]
    return problems


def template_problems(
    triggers: Iterable[Trigger],
    renderer: Renderer,
    settings: Settings,
    broadcasts: Iterable[tuple[str, str]] = (),
    messages: Collection[str] | None = None,
) -> list[tuple[str, str]]:
    """(`file:line`, what) for each name a template reads that the context of a trigger
    sending its message lacks, once each. `broadcasts`: (message, the broadcast's trigger
    name) of each message a broadcast sends, whose context has no order. `messages`: only
    these messages' templates."""
    entries: dict[str, dict[str, str]] = {}  # message → entry → a trigger on it
    for trigger in triggers:
        for message in trigger.messages():  # its own and its A/B variants'
            entries.setdefault(message, {}).setdefault(trigger.on, trigger.name)
    for message, name in broadcasts:
        entries.setdefault(message, {}).setdefault(BROADCAST, name)
    found: dict[tuple[str, str], None] = {}
    for message in renderer.messages():
        if messages is not None and message not in messages:
            continue
        users = entries.get(message) or {_ANY_ENTRY: ""}
        for entry, name in sorted(users.items()):
            top = email_context(entry, settings)
            for variant in renderer.variants(message):
                for unknown in template_unknowns(renderer.env, variant, top):
                    sent_by = f" (trigger {name!r} sends {message})" if name else ""
                    found[(f"{unknown.name}:{unknown.line}", unknown.problem + sent_by)] = None
    return list(found)
