"""Log records are scrubbed as they are made: no address, name-bearing row or public IP."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from worker import logs
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


@pytest.fixture
def json_handler() -> Iterator[io.StringIO]:
    """A handler on the root logger, as Dramatiq or the CLI set one up before Ladder loads."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    kept = {h: h.formatter for h in root.handlers}  # pytest's own, given back afterwards
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        logs.apply_format("json")
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for kept_handler, formatter in kept.items():
            kept_handler.setFormatter(formatter)


def test_log_format_json_writes_one_object_a_line_with_the_ids_as_fields(
    json_handler: io.StringIO,
) -> None:
    logging.getLogger("worker.delivery.claims").info(
        "delivery %d %s", 42, "failed",
        extra={"delivery_id": 42, "status": "failed", "reason": "no such user ana@example.com"},
    )  # fmt: skip

    [line] = json_handler.getvalue().splitlines()
    found = json.loads(line)
    assert found["message"] == "delivery 42 failed"
    assert (found["level"], found["logger"]) == ("INFO", "worker.delivery.claims")
    assert (found["delivery_id"], found["status"]) == (42, "failed")
    assert "T" in found["time"]
    assert found["reason"] == "no such user <hidden>"  # a field is scrubbed as the message is


def test_an_unknown_log_format_is_named_and_text_kept(caplog: pytest.LogCaptureFixture) -> None:
    logs.apply_format("yaml")

    assert "LOG_FORMAT=yaml is not one of text, json: logging as text" in caplog.text
