"""CSRF protection for forms: a token the page carries, signed for its user.

A browser may send its credentials (the studio's session cookie, a customer's signed link) with
a request another site forged; a form's POST counts only with a token that this server signed
for that user in the last hours (which another site cannot read), and only when the browser does
not say it comes from another origin. The studio binds its tokens to the login's session
(worker/web/studio/accounts.py), the loyalty page to the customer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from fastapi import HTTPException, Request

_PURPOSE = b"studio-form:v1:"
MAX_AGE = timedelta(hours=12)  # a page left open over a working day still sends
REFUSED = "this form expired or came from another site: reload the studio page and try again"


def _mac(secret: bytes, user: str, issued: int, purpose: bytes = _PURPOSE) -> str:
    message = purpose + f"{user}:{issued}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def form_token(secret: bytes, user: str, now: datetime, *, purpose: bytes = _PURPOSE) -> str:
    """`<issued unix time>.<mac>`, for a hidden field of a form shown to `user`; `purpose`
    keeps one kind of form's token from counting for another (the studio's, a customer's)."""
    issued = int(now.timestamp())
    return f"{issued}.{_mac(secret, user, issued, purpose)}"


def check_form(
    request: Request,
    secret: bytes,
    user: str,
    token: str,
    now: datetime,
    *,
    purpose: bytes = _PURPOSE,
    refused: str = REFUSED,
) -> None:
    """403 unless `token` was signed for `user` (and `purpose`) within MAX_AGE and the request
    is same-origin as far as the browser tells (Sec-Fetch-Site, Origin)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise HTTPException(403, refused)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, refused)
    issued, _, mac = token.partition(".")
    if not (issued.isascii() and issued.isdigit() and len(issued) <= 12):
        raise HTTPException(403, refused)
    age = now - datetime.fromtimestamp(int(issued), tz=now.tzinfo)
    expected = _mac(secret, user, int(issued), purpose)
    if not hmac.compare_digest(mac.encode(), expected.encode()) or not (
        timedelta(minutes=-5) <= age <= MAX_AGE
    ):
        raise HTTPException(403, refused)
