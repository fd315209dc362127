"""Logs carry ids, never a customer's address, name or IP: in every process, at every level.

Ladder's own log lines name ids only. What could still carry personal data is text Ladder does
not write: a database error quotes the row it refused (`DETAIL: Failing row contains (…,
ana@example.com, Ana, …)`) and, through SQLAlchemy, the statement's parameters; a validation
error quotes the input. The engines hide parameters (models/db.py), and every log record is
scrubbed as it is made, its message and its traceback, whichever library logs it (Dramatiq,
Uvicorn, SQLAlchemy), so no handler or formatter can print the raw text.

Scrubbed: email addresses, public IP addresses (private and loopback ones are the operator's
own hosts, kept for debugging), the values in PostgreSQL's DETAIL lines (the column names
stay), SQLAlchemy's `[parameters: …]` and Pydantic's `input_value=…`.

With `LOG_FORMAT=json` every handler writes one JSON object a line (python-json-logger): the
time, level, logger and message, and the ids a line carries as fields of their own
(`event_id`, `delivery_id`, …) for a log pipeline to index; those fields are scrubbed too.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import traceback
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_IP = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"
)
_KEY_DETAIL = re.compile(r"(Key \([^)]*\))=\(.*?\)( already exists| is not present|\.|$)", re.M)
_ROW_DETAIL = re.compile(r"(Failing row contains) \(.*\)", re.M)
_OTHER_DETAIL = re.compile(r"^(DETAIL:)(?!  ?(?:Key \(|Failing row)).*$", re.M)
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.S)
_INPUT_VALUE = re.compile(r"input_value=.*?(?=, input_type=|\]$|$)", re.M)

HIDDEN = "<hidden>"


def _public_ip(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text  # a time (10:00:00), a version (1.2.3.4.5): not an address
    return HIDDEN if address.is_global else text


def scrub(text: str) -> str:
    """`text` with the personal data a library may have put in it replaced by `<hidden>`."""
    if not text:
        return text
    text = _PARAMETERS.sub(f"[parameters: {HIDDEN}]", text)
    text = _KEY_DETAIL.sub(rf"\1=({HIDDEN})\2", text)
    text = _ROW_DETAIL.sub(rf"\1 ({HIDDEN})", text)
    text = _OTHER_DETAIL.sub(rf"\1 {HIDDEN}", text)
    text = _INPUT_VALUE.sub(f"input_value={HIDDEN}", text)
    text = _EMAIL.sub(HIDDEN, text)
    if "." in text or ":" in text:
        text = _IP.sub(_public_ip, text)
    return text


_make_record = logging.getLogRecordFactory()


def _scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record, as it is made: its message formatted and scrubbed, and its traceback (the
    text every formatter prints, `exc_text`) formatted and scrubbed too."""
    record = _make_record(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself, as it would have
        return record
    record.msg, record.args = scrub(message), None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip())
        record.exc_info = None  # no handler can print the raw exception's text instead
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install() -> None:
    """Scrub every log record this process makes from now on (idempotent)."""
    if logging.getLogRecordFactory() is not _scrubbed_record:
        logging.setLogRecordFactory(_scrubbed_record)


LOG_FORMATS = ("text", "json")
# The loggers that keep handlers of their own, besides the root's.
_OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq")


class _ScrubbedJson(JsonFormatter):
    """The message is scrubbed when the record is made; a field a caller added (`extra=`) is
    scrubbed here, so no field of a line can carry an address either."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {
            key: scrub(value) if isinstance(value, str) else value
            for key, value in super().process_log_record(log_data).items()
        }


def json_formatter() -> logging.Formatter:
    return _ScrubbedJson(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def apply_format(log_format: str | None = None, *, root_handler: bool = False) -> None:
    """`LOG_FORMAT` (or `log_format`): "json" gives every handler configured so far (the
    CLI's, Dramatiq's, Uvicorn's: each configures logging before it imports Ladder) the JSON
    formatter; "text", the default, leaves them as they are. `root_handler` (the web app:
    Uvicorn configures only its own loggers) gives the root logger a JSON handler on stderr
    if it has none, where Python's last resort would print Ladder's warnings as bare text."""
    chosen = (log_format or os.environ.get("LOG_FORMAT") or "text").strip().lower()
    if chosen not in LOG_FORMATS:
        logging.getLogger(__name__).warning(
            "LOG_FORMAT=%s is not one of %s: logging as text", chosen, ", ".join(LOG_FORMATS)
        )
        return
    if chosen == "text":
        return
    formatter = json_formatter()
    root = logging.getLogger()
    if root_handler and not root.handlers:
        root.addHandler(logging.StreamHandler())
    for name in ("", *_OWN_HANDLERS):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
