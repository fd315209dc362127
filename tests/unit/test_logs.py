"""Log records are scrubbed as they are made: no address, name-bearing row or public IP."""

from __future__ import annotations

import logging

import pytest

from worker.logs import scrub

DATABASE_ERROR = (
    '(psycopg.errors.CheckViolation) new row for relation "customers" violates check '
    'constraint "c"\nDETAIL:  Failing row contains (1, ana@example.com, Ana, Privatename, f).\n'
    "[SQL: INSERT INTO customers (email) VALUES (%(email)s)]\n"
    "[parameters: {'email': 'ana@example.com', 'first_name': 'Ana', 'last_name': 'Privatename'}]"
)


def test_a_database_error_keeps_its_kind_statement_and_columns_and_loses_the_values() -> None:
    scrubbed = scrub(DATABASE_ERROR)
    assert "Privatename" not in scrubbed and "ana@example.com" not in scrubbed
    assert 'violates check constraint "c"' in scrubbed
    assert "DETAIL:  Failing row contains (<hidden>)" in scrubbed
    assert "[SQL: INSERT INTO customers (email) VALUES (%(email)s)]" in scrubbed
    assert "[parameters: <hidden>]" in scrubbed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "DETAIL:  Key (email)=(ana@example.com) already exists.",
            "DETAIL:  Key (email)=(<hidden>) already exists.",
        ),
        ("DETAIL:  Key (external_id)=(Ana B) is not present", "Key (external_id)=(<hidden>)"),
        ("DETAIL:  Array value must start with Ana", "DETAIL: <hidden>"),
        ("1 validation error\n  input_value='Ana Privatename', input_type=str]", "<hidden>"),
        ("from 81.2.69.160 and 2a00:1450:4001:80b::200e", "from <hidden> and <hidden>"),
        ("database at 127.0.0.1:5432 and 10.0.0.7 refused", "127.0.0.1:5432 and 10.0.0.7"),
        ("retry at 10:00:00 with version 1.2.3", "retry at 10:00:00 with version 1.2.3"),
        ("delivery 42 to ana.b+tag@mail.example.co.uk failed", "delivery 42 to <hidden> failed"),
    ],
)
def test_scrub(raw: str, expected: str) -> None:
    assert expected in scrub(raw)


def test_every_record_is_scrubbed_message_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Any library's logger, `%` arguments and `exc_info`: the text a handler prints is clean."""
    logger = logging.getLogger("dramatiq.worker.Worker")
    try:
        raise RuntimeError(DATABASE_ERROR)
    except RuntimeError:
        logger.error(
            "Failed to process message %s for %s",
            "process_batch([7])",
            "ana@example.com",
            exc_info=True,
        )
    [record] = caplog.records
    printed = logging.Formatter().format(record)
    assert "process_batch([7])" in printed and "RuntimeError" in printed
    assert "ana@example.com" not in printed and "Privatename" not in printed
