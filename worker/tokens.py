"""Signed, tamper-proof unsubscribe tokens: the customer id and an HMAC, nothing personal."""

from __future__ import annotations

import base64
import hashlib
import hmac

_PURPOSE = b"unsubscribe:v1:"


def _mac(secret: bytes, customer_id: int) -> str:
    digest = hmac.new(secret, _PURPOSE + str(customer_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def unsubscribe_token(secret: bytes, customer_id: int) -> str:
    return f"{customer_id}.{_mac(secret, customer_id)}"


def read_unsubscribe_token(secret: bytes, token: str) -> int | None:
    """The customer id the token was signed for, or None if it was not signed by us."""
    customer_part, _, mac = token.partition(".")
    if not customer_part.isdigit() or not mac:
        return None
    customer_id = int(customer_part)
    if not hmac.compare_digest(mac, _mac(secret, customer_id)):
        return None
    return customer_id
