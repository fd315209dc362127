"""Hostile values for the property tests of every route: each case a fuzz of a few thousand
bodies once found answered 500 (or accepted, then failing on every try) is drawn explicitly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st


class Raw(str):
    """JSON text put into a body as it is: what `json.dumps` cannot write (a 5,000-digit
    number, nesting 100,000 deep)."""

    __slots__ = ()


def nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


# Each once a 500, or a 202 that then failed on every try.
HOSTILE: list[Any] = [
    "\x00",
    "Ana\x00",
    "\ud800",  # a lone surrogate: `\ud800` in JSON
    "x\udfff",
    float("nan"),
    float("inf"),
    float("-inf"),
    Raw("9" * 5000),  # over Python's 4,300-digit int-to-str limit
    Raw("-" + "9" * 4301),
    Raw("1e400"),  # a float literal too large to be finite
    nested(100_000),  # RecursionError in the parser
    nested(900),  # parses, then recursion in the serialisers
    nested(70),
    "0001-01-01T00:00:00+01:00",  # overflows when converted to UTC
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59+00:00",
    10**20,
    -(10**20),
    2**63,
    2**31,
    1e300,
    True,
    "",
    "²",  # passes str.isdigit(), not int()
    # Valid in shape, longer or larger than the column that stores them.
    "a" * 300,
    "en-abcdefgh-abcdefgh-abcdefgh-abcdefgh",  # a locale past customers.locale's 35
    "order." + "x" * 80,  # an event type past events.type's 64
    "21474836.48",  # 2**31 cents: past an INTEGER column
    99999999999.999,
]
hostile = st.sampled_from(HOSTILE)
ordinary = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
# JSON values with hostile leaves among ordinary ones.
json_values = st.recursive(
    ordinary | hostile,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["\x00", "k\ud800"]), children, max_size=3
        )
    ),
    max_leaves=8,
)


def dumps(value: Any) -> bytes:
    """`value` as a JSON body, Raw values put in as they are; NaN and Infinity as Python
    writes them, lone surrogates escaped (`\\ud800`), as a sender's JSON library would."""
    raws: list[str] = []

    def placeholder(raw: Raw) -> str:
        raws.append(raw)
        return f"\x01raw{len(raws) - 1}\x01"

    def swap(item: Any) -> Any:
        if isinstance(item, Raw):
            return placeholder(item)
        if isinstance(item, dict):
            return {key: swap(child) for key, child in item.items()}
        if isinstance(item, list):
            return [swap(child) for child in item]
        return item

    text = json.dumps(swap(value))
    for number, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01raw{number}\x01"), raw)
    return text.encode()


def put(document: Any, path: list[str | int], value: Any) -> Any:
    """A copy of `document` with `value` at `path` (objects and lists made on the way)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(document) if isinstance(document, list) else []
        items += [None] * (head + 1 - len(items))
        items[head] = put(items[head], rest, value)
        return items
    fields = dict(document) if isinstance(document, dict) else {}
    fields[head] = put(fields.get(head), rest, value)
    return fields
