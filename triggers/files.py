"""What broadcast and content series files share with each other: one TOML file read into its
model, refused naming the file, line and field; and a folder of them, names unique."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from triggers import TriggerError, line_of

Model = TypeVar("Model", bound=BaseModel)


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def load_file(path: Path, model: type[Model]) -> Model:
    """Parses and validates one file. Raises TriggerError naming the file, line and field."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TriggerError(path, f"not valid TOML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = next((e for e in errors if e["loc"] and line_of(text, str(e["loc"][0]))), errors[0])
        field = ".".join(str(part) for part in first["loc"]) or "(file)"
        top = str(first["loc"][0]) if first["loc"] else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise TriggerError(
            path, first["msg"] + more, line=line_of(text, top) if top else None, field=field
        ) from exc


def load_folder(directory: Path, load: Callable[[Path], N]) -> list[N]:
    """Every `*.toml` in `directory` (none if it does not exist), sorted by file name; names
    must be unique."""
    found: dict[str, Path] = {}
    loaded = []
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        item = load(path)
        if item.name in found:
            raise TriggerError(
                path,
                f"name {item.name!r} is already used by {found[item.name]}",
                line=line_of(path.read_text(encoding="utf-8"), "name"),
                field="name",
            )
        found[item.name] = path
        loaded.append(item)
    return loaded
