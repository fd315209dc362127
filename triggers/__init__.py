"""Trigger definitions (`triggers/*.toml`) and the code that loads, checks and matches them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from triggers.matching import CompiledTrigger, ConditionError, TriggerSet, compile_trigger
from triggers.schema import Trigger, format_duration, parse_duration

__all__ = [
    "CompiledTrigger",
    "ConditionError",
    "Trigger",
    "TriggerError",
    "TriggerSet",
    "format_duration",
    "load_trigger",
    "load_triggers",
    "parse_duration",
]


class TriggerError(Exception):
    """A trigger file that cannot be used, with the file, line and field that need fixing."""

    def __init__(
        self, path: Path, message: str, *, line: int | None = None, field: str = ""
    ) -> None:
        self.path, self.line, self.field = path, line, field
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


def _line_of(text: str, field: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=", re.MULTILINE)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def load_trigger(path: Path, env: SandboxedEnvironment | None = None) -> Trigger:
    """Parses and validates one file; with `env`, also compiles its `when` expression."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise TriggerError(
            path, f"not valid TOML: {exc}", line=int(line[1]) if line else None
        ) from exc
    try:
        trigger = Trigger.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "(file)"
        top = str(first["loc"][0]) if first["loc"] else ""
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TriggerError(
            path, first["msg"] + more, line=_line_of(text, top), field=field
        ) from exc
    if env is not None:
        try:
            compile_trigger(env, trigger)
        except TemplateSyntaxError as exc:
            raise TriggerError(
                path,
                f"not a valid expression: {exc.message}",
                line=_line_of(text, "when"),
                field="when",
            ) from exc
    return trigger


def load_triggers(directory: Path, env: SandboxedEnvironment | None = None) -> list[Trigger]:
    """Every `*.toml` in `directory`, sorted by file name; names must be unique."""
    found: dict[str, Path] = {}
    triggers = []
    for path in sorted(directory.glob("*.toml")):
        trigger = load_trigger(path, env)
        if trigger.name in found:
            raise TriggerError(
                path,
                f"name {trigger.name!r} is already used by {found[trigger.name]}",
                line=_line_of(path.read_text(encoding="utf-8"), "name"),
                field="name",
            )
        found[trigger.name] = path
        triggers.append(trigger)
    return triggers
