"""Forgetting reaches every table by construction: each table, and each of its columns that can
hold text (strings, JSON, bytes, dates), has a line in `privacy/coverage.py` saying what erases it
or why it names nobody. A table or column added without one fails here, naming it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, LargeBinary, String, Text, TypeDecorator
from sqlmodel import SQLModel

import models  # noqa: F401  (every table registered on the metadata)
from worker.privacy.coverage import COVERAGE

TEXTUAL = (String, Text, JSON, LargeBinary, Date)


def can_hold_text(column: Column[object]) -> bool:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # SQLModel's AutoString, Ladder's UTCDateTime
        kind = kind.impl_instance
    return isinstance(kind, TEXTUAL)


def textual_columns() -> dict[str, set[str]]:
    return {
        table.name: {column.name for column in table.columns if can_hold_text(column)}
        for table in SQLModel.metadata.sorted_tables
    }


def test_every_table_has_a_line_in_the_erasure_coverage() -> None:
    missing = sorted(set(textual_columns()) - set(COVERAGE))
    assert missing == [], f"add these tables to worker/privacy/coverage.py COVERAGE: {missing}"


def test_every_column_that_can_hold_text_says_what_forgetting_does_to_it() -> None:
    missing = sorted(
        f"{table}.{column}"
        for table, columns in textual_columns().items()
        for column in columns - set(COVERAGE.get(table, {}))
    )
    assert missing == [], f"say in privacy/coverage.py what forgetting does to: {missing}"


def test_the_coverage_names_no_table_or_column_that_is_gone() -> None:
    tables = textual_columns()
    stale = sorted(
        f"{table}.{column}"
        for table, columns in COVERAGE.items()
        for column in columns
        if column not in tables.get(table, set())
    )
    assert stale == []
