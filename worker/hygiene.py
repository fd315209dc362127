"""Input hygiene: JSON, text, numbers and times refused at the door when the database or Python
cannot hold them, so that nothing accepted fails later on every try.

Every route and reader of outside input uses these (the events API, `ladder import`, webhooks,
SendGrid's events, the inbox's readers); each names the problem, never the value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# Deeper JSON than any platform sends (a Shopify order is 7 levels, a Stripe event 9). Python's
# parser, pydantic and the JSON column's serialiser all recurse: near 1,000 levels one of them
# raises RecursionError, and a bound far below that keeps each of them safe.
MAX_DEPTH = 64
# Digits of a JSON integer: ids and amounts have at most 20, Python refuses over 4,300.
MAX_INT_DIGITS = 100
# The times Ladder stores: far inside what `datetime` and both databases hold, so converting
# one to any time zone or adding a trigger's wait to it cannot overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
TIME_RANGE = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
NUL = "holds a NUL character, which the database cannot store"
NOT_UNICODE = "is not valid Unicode text (a lone surrogate), which the database cannot store"


class NotJSON(ValueError):
    """A body that is not JSON Ladder can hold: the message says why, without quoting it."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in `raw`. Raises NotJSON for what is not UTF-8 JSON, for NaN and
    Infinity (not JSON, and refused by PostgreSQL's json), numbers too long or too large to
    be finite, and nesting deeper than `max_depth`."""
    try:
        document = json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded_int
        )
    except RecursionError as exc:
        raise NotJSON(f"nested deeper than {max_depth} levels") from exc
    except NotJSON:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotJSON(str(exc)) from exc
    if _deeper_than(document, max_depth):
        raise NotJSON(f"nested deeper than {max_depth} levels")
    return document


def _refuse_constant(name: str) -> float:
    raise NotJSON(f"{name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise NotJSON(f"a number too large to be finite ({printable(literal, 24)})")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise NotJSON(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _deeper_than(document: Any, max_depth: int) -> bool:
    """True if lists and objects nest more than `max_depth` levels (iteratively: no recursion
    to run out of)."""
    stack = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def text_problem(value: str) -> str | None:
    """Why the database cannot store `value` (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return NUL
    try:
        value.encode()
    except UnicodeEncodeError:
        return NOT_UNICODE
    return None


def unstorable_text(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, problem) for each key or string in a JSON value that the database cannot store;
    a path is dotted (`lines.0.title`), as in the answers' `field`."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if (problem := text_problem(item)) is not None:
                yield where or "(value)", problem
        elif isinstance(item, dict):
            for key, child in item.items():
                name = _join(where, printable(str(key)))
                if (problem := text_problem(str(key))) is not None:
                    yield name, f"its name {problem}"
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((_join(where, str(i)), child) for i, child in enumerate(item))


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def time_problem(moment: datetime) -> str | None:
    """Why Ladder will not store an (aware) time, or None."""
    if not EARLIEST <= moment < LATEST:  # compared without converting: that could overflow
        return f"must be {TIME_RANGE}"
    return None


def timestamp_problem(seconds: object) -> str | None:
    """Why `seconds` is not a Unix time Ladder stores (not a number, NaN, out of range), or None."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "must be a number of seconds since 1970"
    if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
        return f"must be {TIME_RANGE}"
    return None


def printable(text: str, limit: int = 80) -> str:
    """`text` fit to name a field in an answer: lone surrogates escaped, NULs shown, cut short."""
    shown = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
