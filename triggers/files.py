"""What broadcast and content series files share with each other: one TOML file read into its
model, refused naming the file, line and field; and a folder of them, names unique."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from triggers import TriggerError, line_of

Model = TypeVar("Model", bound=BaseModel)


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def load_file(path: Path, model: type[Model], text: str | None = None) -> Model:
    """Parses and validates one file. Raises TriggerError naming the file, line and field.
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


def load_folder(
    directory: Path,
    load: Callable[[Path, str | None], N],
    overlay: Mapping[str, str] | None = None,
) -> list[N]:
    """Every `*.toml` in `directory` (none if it does not exist), sorted by file name; names
    must be unique. `overlay`: texts by file name laid over the folder's (the studio's
    published versions, new files)."""
    overlay = overlay or {}
    found: dict[str, Path] = {}
    loaded = []
    laid = {name for name in overlay if "/" not in name and name.endswith(".toml")}
    on_disk = {path.name for path in directory.glob("*.toml")} if directory.is_dir() else set()
    for name in sorted(on_disk | laid):
        path, text = directory / name, overlay.get(name)
        item = load(path, text)
        if item.name in found:
            raise TriggerError(
                path,
                f"name {item.name!r} is already used by {found[item.name]}",
                line=line_of(
                    text if text is not None else path.read_text(encoding="utf-8"), "name"
                ),
                field="name",
            )
        found[item.name] = path
        loaded.append(item)
    return loaded
