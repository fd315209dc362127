"""Signed, tamper-proof tokens: unsubscribe (a customer id, a message class), survey answers
(a delivery), the loyalty page (a customer); each with an HMAC of LADDER_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import NamedTuple

_PURPOSE_V1 = b"unsubscribe:v1:"  # links sent before message classes: marketing
_PURPOSE = b"unsubscribe:v2:"
_CLASS_CODES = {"marketing": "m", "transactional": "t"}
_CLASSES = {code: name for name, code in _CLASS_CODES.items()}
MAX_CUSTOMER_ID = 2**31 - 1  # the customers.id column is an INTEGER


class UnsubscribeToken(NamedTuple):
    customer_id: int
    message_class: str


def _mac(secret: bytes, message: bytes) -> str:
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def unsubscribe_token(secret: bytes, customer_id: int, message_class: str = "marketing") -> str:
    """`<customer id>.<class code>.<mac>`: safe in a URL as it is, nothing personal in it."""
    code = _CLASS_CODES[message_class]
    return f"{customer_id}.{code}.{_mac(secret, _PURPOSE + f'{customer_id}.{code}'.encode())}"


def read_unsubscribe_token(secret: bytes, token: str) -> UnsubscribeToken | None:
    """The customer and message class the token was signed for; None if we did not sign it.

    Two-part tokens from before message classes (`<id>.<mac>`) still read, as marketing.
    """
    parts = token.split(".")
    # ASCII digits only ('²' passes isdigit() but not int()), and no larger than a row id.
    if not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 10):
        return None
    customer_id = int(parts[0])
    if customer_id > MAX_CUSTOMER_ID:
        return None
    if len(parts) == 2 and parts[1]:
        expected = _mac(secret, _PURPOSE_V1 + parts[0].encode())
        message_class = "marketing"
    elif len(parts) == 3 and parts[1] in _CLASSES and parts[2]:
        expected = _mac(secret, _PURPOSE + f"{parts[0]}.{parts[1]}".encode())
        message_class = _CLASSES[parts[1]]
    else:
        return None
    if not hmac.compare_digest(parts[-1].encode(), expected.encode()):
        return None
    return UnsubscribeToken(customer_id, message_class)


# Survey answers: one signed link per score, tied to the delivery that carried it (and so to
# its customer and trigger). `nps`: 0-10 (would you recommend us?); `ces`: 1-7 (how easy was it?).
_SURVEY = b"survey:v1:"
SURVEY_SCALES = {"nps": range(0, 11), "ces": range(1, 8)}


class SurveyToken(NamedTuple):
    delivery_id: int
    kind: str


def survey_token(secret: bytes, delivery_id: int, kind: str) -> str:
    """`<delivery id>.<kind>.<mac>`: the score goes in the link's path beside it."""
    if kind not in SURVEY_SCALES:
        raise ValueError(f"unknown survey {kind!r}: use {', '.join(SURVEY_SCALES)}")
    return f"{delivery_id}.{kind}.{_mac(secret, _SURVEY + f'{delivery_id}.{kind}'.encode())}"


def read_survey_token(secret: bytes, token: str) -> SurveyToken | None:
    """The delivery and survey the token was signed for; None if we did not sign it."""
    parts = token.split(".")
    if len(parts) != 3 or parts[1] not in SURVEY_SCALES:
        return None
    if not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 10):
        return None
    delivery_id = int(parts[0])
    expected = _mac(secret, _SURVEY + f"{parts[0]}.{parts[1]}".encode())
    if delivery_id > MAX_CUSTOMER_ID or not hmac.compare_digest(
        parts[2].encode(), expected.encode()
    ):
        return None
    return SurveyToken(delivery_id, parts[1])


# The customer's loyalty page and widget: one link per customer, which does not expire (like
# the unsubscribe link, it sits in old emails); a new LADDER_SECRET_KEY retires every one.
_LOYALTY = b"loyalty:v1:"


def loyalty_token(secret: bytes, customer_id: int) -> str:
    """`<customer id>.<mac>`: safe in a URL as it is, nothing personal in it."""
    return f"{customer_id}.{_mac(secret, _LOYALTY + str(customer_id).encode())}"


def read_loyalty_token(secret: bytes, token: str) -> int | None:
    """The customer the token was signed for; None if we did not sign it."""
    parts = token.split(".")
    if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 10):
        return None
    customer_id = int(parts[0])
    expected = _mac(secret, _LOYALTY + parts[0].encode())
    if customer_id > MAX_CUSTOMER_ID or not hmac.compare_digest(
        parts[1].encode(), expected.encode()
    ):
        return None
    return customer_id
