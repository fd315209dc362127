"""The email as bytes (`providers/mime.py`), read back by the stdlib's own parser."""

from __future__ import annotations

import email
import email.policy
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

from worker.providers import OutgoingEmail

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HTML = (
    "<p>Grüße, Anna! Ihr Code: <b>SPRING=10</b> — 10 % Rabatt.</p>\n"
    + "<p>"
    + "Lange Zeile ohne Umbruch " * 20
    + "</p>\n"
    + "<p>--=_ladder_000000042-0123456789--</p>\n"  # the boundary itself, in the body
)
TEXT = "Grüße, Anna!\r\nIhr Code: SPRING=10  \n\nTschüss\n"


def outgoing(**changes: object) -> OutgoingEmail:
    sent = OutgoingEmail(
        delivery_id=42,
        to="anna@example.com",
        sender="hallo@shop.example",
        sender_name="Der Laden am Eck",
        subject="Danke für Ihre erste Bestellung, Anna",
        html=HTML,
        text=TEXT,
        created_at=T0,
        key="000000042-0123456789",
        headers={
            "List-Unsubscribe": "<https://shop.example/u/" + "t" * 90 + ">",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        reply_to="service@shop.example",
    )
    return replace(sent, **changes)  # type: ignore[arg-type]


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_parts_read_back_as_written() -> None:
    message = parsed(outgoing().to_bytes())

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == "Grüße, Anna!\nIhr Code: SPRING=10  \n\nTschüss\n"
    assert html.get_content() == HTML
    assert str(message["Subject"]) == "Danke für Ihre erste Bestellung, Anna"
    assert str(message["From"]) == "Der Laden am Eck <hallo@shop.example>"
    assert str(message["Reply-To"]) == "service@shop.example"
    assert str(message["Date"]) == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert str(message["Message-ID"]) == "<ladder-delivery-42@shop.example>"
    assert str(message["List-Unsubscribe"]) == "<https://shop.example/u/" + "t" * 90 + ">"
    assert message.defects == []


def test_every_line_is_ascii_and_short_but_an_unbreakable_one() -> None:
    raw = outgoing(subject="Your order" + " is on its way" * 12).to_bytes()
    lines = raw.decode("ascii").split("\n")

    long_lines = [line for line in lines if len(line) > 78]
    assert long_lines == ["List-Unsubscribe: <https://shop.example/u/" + "t" * 90 + ">"]
    subject = parsed(raw)["Subject"]
    assert str(subject) == "Your order" + " is on its way" * 12


def test_on_the_wire_every_line_ends_crlf() -> None:
    raw = outgoing().to_bytes(linesep="\r\n")

    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert b"\r\r" not in raw
    assert parsed(raw).get_body(("html",)).get_content().replace("\r\n", "\n") == HTML  # type: ignore[union-attr]


def test_a_line_break_in_a_header_value_cannot_start_a_header() -> None:
    raw = outgoing(
        subject="Hallo Anna\r\nBcc: everyone@example.com", sender_name="Laden\nX-Evil: 1"
    ).to_bytes()
    message = parsed(raw)

    assert message["Bcc"] is None and message["X-Evil"] is None
    assert str(message["Subject"]) == "Hallo Anna Bcc: everyone@example.com"
    assert str(message["From"]) == '"Laden X-Evil: 1" <hallo@shop.example>'


def test_non_ascii_names_are_encoded_words() -> None:
    raw = outgoing(sender_name="Café Ünter den Linden").to_bytes()

    assert raw.isascii()
    assert str(parsed(raw)["From"]) == "Café Ünter den Linden <hallo@shop.example>"


def test_the_same_delivery_is_the_same_bytes_on_every_try() -> None:
    assert outgoing().to_bytes() == outgoing().to_bytes()
    assert outgoing().to_bytes() != outgoing(key="000000042-9876543210").to_bytes()


def test_the_date_is_the_stdlibs_in_utc() -> None:
    chance = random.Random(7)
    for _ in range(2000):
        moment = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=chance.randrange(2**31))
        local = moment.astimezone(timezone(timedelta(minutes=chance.randrange(-720, 841, 15))))
        raw = outgoing(created_at=local).to_bytes()
        assert f"\nDate: {format_datetime(moment)}\n".encode() in raw
