"""Where a Jinja block left open was opened. Jinja names the line where it noticed (the
`{% endblock %}` that came too soon); the marketer's mistake is the `{% if %}` lines above."""

from __future__ import annotations

import re
from pathlib import Path

_INNERMOST = re.compile(r"The innermost block that needs to be closed is '(\w+)'")
_TAG = re.compile(r"\{%-?\s*(\w+)")
_OPENS = ("if", "for", "block", "macro", "call", "filter", "with", "raw")
_CLOSES = {f"end{tag}": tag for tag in _OPENS}


def opened_at(text: str, tag: str, before_line: int) -> int | None:
    """The line of the innermost `tag` still open at `before_line` (1-based), or None."""
    stack: list[tuple[str, int]] = []
    for number, line in enumerate(text.splitlines()[: before_line - 1], 1):
        for name in _TAG.findall(line):
            if name in _OPENS:
                stack.append((name, number))
            elif name in _CLOSES:
                for index in range(len(stack) - 1, -1, -1):
                    if stack[index][0] == _CLOSES[name]:
                        del stack[index:]
                        break
    return next((number for name, number in reversed(stack) if name == tag), None)


def unclosed_hint(templates_dir: Path, where: str, message: str) -> tuple[str, str] | None:
    """(`file:line`, what) for the opening of the block Jinja says was left open, or None."""
    found = _INNERMOST.search(message)
    name, _, line = where.rpartition(":")
    file = templates_dir / name
    if found is None or not line.isdigit() or not file.is_file():
        return None
    tag = found[1]
    opened = opened_at(file.read_text(encoding="utf-8"), tag, int(line))
    if opened is None:
        return None
    return f"{name}:{opened}", f"{{% {tag} %}} opened here is never closed: add {{% end{tag} %}}"
