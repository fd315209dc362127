"""An email as RFC 5322 bytes: text/plain, then text/html, in one multipart/alternative.

Written directly rather than through `email.generator`: the stdlib's generator and its pure
Python quoted-printable encoder took 1.3 ms of CPU for an 11 kB email, a third of what a worker
spends on the whole email, where `binascii.b2a_qp` (C) and a join take a tenth of that. The
stdlib still encodes the headers that need it (RFC 2047 words for non-ASCII), and reads the
result back in the tests.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.header import Header
from email.utils import formataddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.providers import OutgoingEmail

# A header line is folded before it passes this many characters (RFC 5322's SHOULD).
MAX_LINE = 78
_LINE_BREAK = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")


def message_bytes(email: OutgoingEmail, linesep: str = "\n") -> bytes:
    """The whole message, its lines ended by `linesep` ("\\r\\n" on the wire to SMTP).

    The boundary starts with "=_", which cannot occur in a quoted-printable body (every "=" in
    it is encoded as "=3D"), so it is named after the delivery: the same bytes on every try.
    """
    boundary = f"=_ladder_{email.key}"
    lines = [*_headers(email), f'Content-Type: multipart/alternative; boundary="{boundary}"']
    lines += ["MIME-Version: 1.0", ""]
    for subtype, body in (("plain", email.text), ("html", email.html)):
        lines += [f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"']
        lines += ["Content-Transfer-Encoding: quoted-printable", "", _quoted_printable(body)]
    lines.append(f"--{boundary}--")
    whole = "\n".join(lines) + "\n"
    return (whole if linesep == "\n" else whole.replace("\n", linesep)).encode("ascii")


def message_id(email: OutgoingEmail) -> str:
    """One id per delivery, so that a resent copy is recognisably the same message."""
    domain = email.sender.rpartition("@")[2]
    return f"<ladder-delivery-{email.delivery_id}@{domain}>"


def _headers(email: OutgoingEmail) -> Iterator[str]:
    yield _header("From", formataddr((_one_line(email.sender_name), email.sender), "utf-8"))
    yield _header("To", email.to)
    yield _header("Subject", email.subject)
    yield _header("Date", _date(email.created_at))
    yield _header("Message-ID", message_id(email))
    if email.reply_to:
        yield _header("Reply-To", email.reply_to)
    for name, value in email.headers.items():
        yield _header(name, value)


def _header(name: str, value: str) -> str:
    """`Name: value`, on one line or folded at spaces; non-ASCII as RFC 2047 words.

    A line break inside a value (a subject rendered from a customer's name, say) becomes a
    space: it would otherwise end the header and let the rest pass for headers of its own.
    """
    value = _one_line(value)
    if not value.isascii():
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(maxlinelen=MAX_LINE)
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE:
        return line
    folded, current = [], f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > MAX_LINE and current.strip(" ") != f"{name}:":
            folded.append(current)
            current = ""
        current += " " + word
    return "\n".join([*folded, current])


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date(moment: datetime) -> str:
    """RFC 5322's date in UTC ("Mon, 02 Mar 2026 09:30:00 +0000"), as `email.utils`'s
    format_datetime writes it, without its generality (a percent of a worker's time)."""
    u = moment.astimezone(UTC)
    day, month = _DAYS[u.weekday()], _MONTHS[u.month - 1]
    return (
        f"{day}, {u.day:02d} {month} {u.year:04d} {u.hour:02d}:{u.minute:02d}:{u.second:02d} +0000"
    )


def _one_line(value: str) -> str:
    return _LINE_BREAK.sub(" ", value) if "\n" in value or "\r" in value else value


def _quoted_printable(body: str) -> str:
    """UTF-8 as quoted-printable, lines ended "\\n" (soft breaks keep each under 77)."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
