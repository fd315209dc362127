"""`hygiene`: what no route stores, each refusal naming the problem and never the value."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from worker import hygiene


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
        ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("1e400", "a number too large to be finite"),
        ('[1, {"a": 1e400}]', "a number too large to be finite"),
        ("9" * 4301, "an integer of more than 4300 digits"),
        (b"\xff", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        ("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ],
)
def test_json_ladder_cannot_hold_is_refused_saying_why(raw: str | bytes, problem: str) -> None:
    with pytest.raises(hygiene.NotJSON) as refused:
        hygiene.loads(raw)
    assert str(refused.value) == problem


def test_json_within_the_bounds_reads_as_json_does() -> None:
    assert hygiene.loads("[" * 64 + "]" * 64) is not None
    assert hygiene.loads("-" + "9" * 100) == -int("9" * 100)
    assert hygiene.loads('{"a": [1.5, "\\u00e9", null]}') == {"a": [1.5, "é", None]}


def test_text_the_database_cannot_store_is_found_with_its_path() -> None:
    document = {"a": ["ok", "x\x00"], "b\ud800": {"c": "\udfff"}, "d": 1}
    assert sorted(hygiene.unstorable_text(document)) == [
        ("a.1", hygiene.NUL),
        ("b\\ud800", f"its name {hygiene.NOT_UNICODE}"),
        ("b\\ud800.c", hygiene.NOT_UNICODE),
    ]
    assert list(hygiene.unstorable_text({"a": ["é", "ok"]})) == []


def test_times_out_of_range_are_refused_without_converting_them() -> None:
    east, west = timezone(timedelta(hours=1)), timezone(timedelta(hours=-1))
    assert hygiene.time_problem(datetime(1, 1, 1, tzinfo=east)) is not None
    assert hygiene.time_problem(datetime(9999, 12, 31, 23, 59, tzinfo=west)) is not None
    assert hygiene.time_problem(datetime(2026, 5, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize("seconds", [math.nan, math.inf, 10**20, -(10**12), True, "1", None])
def test_a_unix_time_out_of_range_or_not_a_number_is_refused(seconds: object) -> None:
    assert hygiene.timestamp_problem(seconds) is not None


def test_a_unix_time_in_range_is_accepted() -> None:
    assert hygiene.timestamp_problem(1_700_000_000) is None
    assert hygiene.timestamp_problem(1_700_000_000.5) is None
