"""Trigger definitions (`triggers/*.toml`) and the code that loads, checks and matches them."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from triggers.matching import (
    CONDITION_FAILED,
    EXPRESSIONS,
    CompiledTrigger,
    ConditionError,
    TriggerSet,
    UnknownNameError,
    compile_expression,
)
from triggers.schema import Trigger, format_duration, parse_duration

__all__ = [
    "CONDITION_FAILED",
    "EXPRESSIONS",
    "CompiledTrigger",
    "ConditionError",
    "Trigger",
    "TriggerError",
    "TriggerSet",
    "format_duration",
    "line_of",
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


def line_of(text: str, field: str) -> int | None:
    """The line of `text` (a trigger file) that sets `field`; None if none does."""
    pattern = re.compile(rf"^\s*{re.escape(field)}\s*=", re.MULTILINE)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(file)"


def _top(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]) if loc else ""


def _hint(error: Any) -> str:
    """For a misspelt field, the field meant; the known fields otherwise."""
    if error["type"] != "extra_forbidden":
        return ""
    known = sorted(field.alias or name for name, field in Trigger.model_fields.items())
    close = difflib.get_close_matches(_top(error["loc"]), known, n=1)
    if close:
        return f" (hint: did you mean {close[0]!r}?)"
    return f" (hint: a trigger has {', '.join(known)})"


def load_trigger(
    path: Path, env: SandboxedEnvironment | None = None, text: str | None = None
) -> Trigger:
    """Parses and validates one file; with `env`, also compiles its `when` expression.
    `text`: the file's text when it is not the one on disk (published in the studio, a draft)."""
    if text is None:
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
        errors = exc.errors(include_url=False)
        # A misspelt key is two errors, "onn: unknown" (on its line) and "on: missing" (on no
        # line): lead with one we can point at, so the marketer sees the line with the typo.
        first = next((e for e in errors if e["loc"] and line_of(text, _top(e["loc"]))), errors[0])
        others = [f"{_dotted(e['loc'])}: {e['msg']}" for e in errors if e is not first]
        more = f" (and {len(others)} more: {'; '.join(others)})" if others else ""
        raise TriggerError(
            path,
            first["msg"] + _hint(first) + more,
            line=line_of(text, _top(first["loc"])),
            field=_dotted(first["loc"]),
        ) from exc
    if env is not None:
        _check_expressions(path, text, trigger, env)
    return trigger


def _check_expressions(path: Path, text: str, trigger: Trigger, env: SandboxedEnvironment) -> None:
    for field in EXPRESSIONS:
        expression = getattr(trigger, field)
        if expression is None:
            continue
        try:
            compile_expression(env, field, expression)
        except TemplateSyntaxError as exc:
            raise TriggerError(
                path,
                f"not a valid expression: {exc.message} (hint: conditions are Jinja"
                ' expressions, e.g. "customer.orders_count >= 2 and order.total > 50")',
                line=line_of(text, field),
                field=field,
            ) from exc
        except UnknownNameError as exc:
            raise TriggerError(path, str(exc), line=line_of(text, field), field=field) from exc


def load_triggers(
    directory: Path,
    env: SandboxedEnvironment | None = None,
    overlay: Mapping[str, str] | None = None,
) -> list[Trigger]:
    """Every `*.toml` in `directory`, sorted by file name; names must be unique. `overlay`:
    texts by file name laid over the folder's (the studio's published versions, new files)."""
    overlay = overlay or {}
    found: dict[str, Path] = {}
    triggers = []
    laid = {name for name in overlay if "/" not in name and name.endswith(".toml")}
    names = {path.name for path in directory.glob("*.toml")} | laid
    for name in sorted(names):
        path = directory / name
        text = overlay.get(name)
        trigger = load_trigger(path, env, text)
        if trigger.name in found:
            raise TriggerError(
                path,
                f"name {trigger.name!r} is already used by {found[trigger.name]}",
                line=line_of(text or path.read_text(encoding="utf-8"), "name"),
                field="name",
            )
        found[trigger.name] = path
        triggers.append(trigger)
    return triggers
