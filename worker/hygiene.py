"""Input hygiene: JSON, text, numbers and times refused at the door when the database or Python
cannot hold them, so that nothing accepted fails later on every try.

Every route and reader of outside input uses these (the events API, `ladder import`, webhooks,
SendGrid's events, the inbox's readers); each names the problem, never the value.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# Deeper JSON than any platform sends (their samples in tests/fixtures nest 10 at most). Python's
# parser, pydantic and the JSON column's serialiser all recurse: near 1,000 levels one of them
# raises RecursionError, and a bound far below that keeps each of them safe.
MAX_DEPTH = 64
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
    """The JSON document in `raw` (UTF-8). Raises NotJSON for what is not JSON, for NaN and
    Infinity (not JSON, and refused by PostgreSQL's json), numbers too long for Python (over
    4,300 digits) or too large to be finite, and nesting deeper than `max_depth`."""
    try:
        document = _DECODER.decode(raw.decode() if isinstance(raw, bytes) else raw)
    except RecursionError as exc:
        raise NotJSON(f"nested deeper than {max_depth} levels") from exc
    except NotJSON:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotJSON(str(exc)) from exc
    except ValueError as exc:  # int() past sys.get_int_max_str_digits(), inside the parser
        raise NotJSON(f"an integer of more than {sys.get_int_max_str_digits()} digits") from exc
    if (problem := _shape_problem(document, max_depth)) is not None:
        raise NotJSON(problem)
    return document


def _refuse_constant(name: str) -> float:
    raise NotJSON(f"{name} is not a JSON number")


# One decoder for every call (json.loads builds one per call when given a hook).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _shape_problem(document: Any, max_depth: int) -> str | None:
    """Nesting past `max_depth`, or a float literal too large to be finite (`1e400` reads as
    inf), found in one walk without recursion (there is none to run out of)."""
    if not isinstance(document, dict | list):
        return _number_problem(document)
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        children = value.values() if isinstance(value, dict) else value
        # `in` compares in C, cheaper than a test of each value in Python. NaN cannot be here:
        # the parser refuses its literal. (The walk costs about what parsing did before.)
        if math.inf in children or -math.inf in children:
            return _number_problem(math.inf)
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return None


def _number_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "a number too large to be finite"
    return None


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
