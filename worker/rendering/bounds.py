"""What one render, or one trigger condition, may do: a typo in a template must never take a
worker's memory or its time.

Jinja's sandbox stops a template reaching Python's internals, not using up the machine:
`('a' * 10**9)|length` allocates a gigabyte in one operation, and two nested loops over
`range(100000)` run for hours. So every render runs under a budget:

- **steps**: each loop iteration and each call (macros, methods, functions) costs one;
- **characters**: what the render writes, and every string or list an operation builds, count
  against one total, and no single value may exceed `MAX_VALUE`;
- **time**: checked as steps are taken, less the time spent waiting for the database (a
  lazily loaded list of recommendations), which is not the template's fault.

Operations that would build a too-large value in one C call (`*`, `%`, `**`, padding, `replace`,
`format`) are refused before they run. Exceeding any bound raises `LimitExceeded`, a
`TemplateError`: the delivery fails for good with the file and line, and `ladder check` shows it.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

MAX_STEPS = 1_000_000  # loop iterations and calls in one render (an email makes ~100)
MAX_CHARS = 5_000_000  # characters one render writes and builds (an email is ~50,000)
MAX_VALUE = 1_000_000  # characters (or items) in any one string or list it builds
SECONDS = 2.0  # one render's own time (a render takes about a millisecond)
_CLOCK_EVERY = 1024  # steps between two looks at the clock


class LimitExceeded(SecurityError):
    """A template or condition tried to do more work than a render may."""


@dataclass
class _Budget:
    steps: int
    chars: int
    deadline: float


_budget: ContextVar[_Budget | None] = ContextVar("ladder_render_budget", default=None)


@contextmanager
def limited() -> Iterator[None]:
    """A fresh budget for one render or condition; a nested one (an include, an expression
    evaluated inside a render) shares the outer budget."""
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget(MAX_STEPS, MAX_CHARS, time.monotonic() + SECONDS))
    try:
        yield
    finally:
        _budget.reset(token)


@contextmanager
def waiting() -> Iterator[None]:
    """Time spent in here (a database read a render triggers) is not charged to the render."""
    budget = _budget.get()
    started = time.monotonic()
    try:
        yield
    finally:
        if budget is not None:
            budget.deadline += time.monotonic() - started


def step() -> None:
    """One loop iteration or call; raises LimitExceeded past the steps or the time."""
    budget = _budget.get()
    if budget is None:
        return
    budget.steps -= 1
    if budget.steps < 0:
        raise LimitExceeded(f"the template takes more than {MAX_STEPS:,} steps (loops and calls)")
    if budget.steps % _CLOCK_EVERY == 0 and time.monotonic() > budget.deadline:
        raise LimitExceeded(f"the template takes longer than {SECONDS:g} s to render")


def charge(size: int) -> None:
    """A value of `size` characters or items is about to be built; raises LimitExceeded if it
    is too large on its own or the render has built too much."""
    if size > MAX_VALUE:
        raise LimitExceeded(f"the template builds a value of {size:,} characters or items")
    budget = _budget.get()
    if budget is None:
        return
    budget.chars -= size
    if budget.chars < 0:
        raise LimitExceeded(f"the template builds more than {MAX_CHARS:,} characters")


def weigh(value: Any, limit: int = MAX_VALUE) -> int:
    """The characters and items in `value`, following nested lists and dicts (shared ones
    count each time they would print), stopping once past `limit`."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            pending.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            pending.extend(item.values())
    return total


def loop(items: Iterable[Any]) -> Iterator[Any]:
    """What every `{% for %}` iterates: the items, one step each."""
    for item in items:
        step()
        yield item


def concat(pieces: Iterable[str]) -> str:
    """What a render (and each macro, block and `{% set %}` body) writes, charged as written.
    The hot path of every render: one subtraction per piece, the budget settled at the end."""
    budget = _budget.get()
    if budget is None:
        return "".join(pieces)
    start = left = budget.chars
    written: list[str] = []
    append = written.append
    for piece in pieces:
        left -= len(piece)
        if left < 0:
            raise LimitExceeded(f"the template builds more than {MAX_CHARS:,} characters")
        append(piece)
    budget.chars -= start - left  # macros rendered meanwhile charged it themselves
    return "".join(written)


class BoundedNamespace(Namespace):
    """`namespace()`: the one place a template can grow a value from one iteration to the next
    (`{% set ns.text = ns.text ~ ns.text %}`), so what it keeps is weighed."""

    def __setitem__(self, name: str, value: Any) -> None:
        charge(weigh(value))
        super().__setitem__(name, value)


# ---- operations that build a value in one step, checked before they run --------------------

_WIDENING = frozenset({"ljust", "rjust", "center", "zfill"})
_PRINTF_WIDTH = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """`'a' * 10**9`, `[x] * 10**9`, `10 ** 10**9`, `'%999999999d' % 1` are refused unrun."""
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                charge(len(sequence) * max(times, 0))
    elif operator == "+" and isinstance(left, str | list | tuple) and type(left) is type(right):
        charge(len(left) + len(right))
    elif operator == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left) > 1 and right * abs(left).bit_length() > 4 * MAX_VALUE:
            raise LimitExceeded(f"the template raises a number to the power {right:,}")
    elif operator == "%" and isinstance(left, str):
        check_printf(left)


def check_printf(template: str) -> None:
    """A `%` format whose width or precision would build a value past MAX_VALUE."""
    if "%" not in template:
        return
    widths = (
        _printf_widths(template) if len(template) <= 256 else _printf_widths.__wrapped__(template)
    )
    for spec in widths:
        if spec == "*":
            raise LimitExceeded("the template takes a `%` width from an argument (`*`)")
        charge(int(spec))


@lru_cache(maxsize=1024)
def _printf_widths(template: str) -> tuple[str, ...]:
    """The widths and precisions a `%` format names, in order: the same few formats come back
    for every email (a price's `%.2f`), so they are read once."""
    found = (spec for match in _PRINTF_WIDTH.finditer(template) for spec in match.groups())
    return tuple(spec for spec in found if spec is not None)


def check_format(template: str) -> None:
    """A `str.format` whose field widths (or nested, argument-given widths) are too large."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises its own error, a template bug
    for _, _, spec, _ in fields:
        if spec and "{" in spec:
            raise LimitExceeded("the template takes a `format` width from an argument")
        for digits in _DIGITS.findall(spec or ""):
            charge(int(digits))


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """One call from a template: a step, its arguments weighed (a macro calling itself with a
    doubled string), and the string methods that pad or replace checked before they run."""
    step()
    for value in (*args, *kwargs.values()):
        if not isinstance(value, int | float | bool | type(None)):
            charge(weigh(value))
    obj = getattr(obj, "__wrapped__", obj)  # the sandbox's wrapper around `str.format`
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(obj, "__name__", "")
    if name in _WIDENING and args and isinstance(args[0], int):
        charge(args[0])
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int):
            charge(len(owner) * max(tabsize, 1))
    elif name == "replace" and len(args) >= 2:
        check_replace(owner, args[0], args[1])
    elif name in {"format", "format_map"}:
        check_format(owner)


def check_replace(text: Any, old: Any, new: Any) -> None:
    """`replace` can multiply a string: `'aaaa'|replace('a', 'a' * 1000)`."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        occurrences = text.count(old) if old else len(text) + 1
        charge(len(text) + occurrences * max(len(new) - len(old), 0))


def bounded_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Jinja's filters that can build a large value from small arguments, each checked first."""
    center, indent, replace = filters["center"], filters["indent"], filters["replace"]
    format_, batch, slice_ = filters["format"], filters["batch"], filters["slice"]

    def do_center(value: Any, width: int = 80) -> Any:
        charge(width if isinstance(width, int) else 0)
        return center(value, width)

    def do_indent(value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> Any:
        pad = width if isinstance(width, int) else len(width)
        charge(weigh(str(value)) + str(value).count("\n") * max(pad, 0))
        return indent(value, width, *args, **kwargs)

    @pass_eval_context
    def do_replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        check_replace(str(value), str(old), str(new))
        return replace(eval_ctx, value, old, new, count)

    def do_format(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_printf(str(value))
        return format_(value, *args, **kwargs)

    def do_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        charge(linecount if isinstance(linecount, int) else 0)
        return batch(value, linecount, fill_with)

    def do_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
        charge(slices if isinstance(slices, int) else 0)
        return slice_(value, slices, fill_with)

    return {
        "center": do_center,
        "indent": do_indent,
        "replace": do_replace,
        "format": do_format,
        "batch": do_batch,
        "slice": do_slice,
    }


def bounded_lipsum(lipsum: Any) -> Any:
    """`lipsum(n, html, min, max)`: at most n * max words."""

    def generate(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        charge(n * max * 12 if isinstance(n, int) and isinstance(max, int) else 0)
        return lipsum(n, html, min, max)

    return generate
