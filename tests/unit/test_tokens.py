"""Unsubscribe tokens: signed customer ids and classes that cannot be forged or altered."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from worker.delivery.tokens import UnsubscribeToken, read_unsubscribe_token, unsubscribe_token

SECRET = b"s" * 32


def test_a_token_reads_back_as_the_customer_and_class_it_was_made_for() -> None:
    token = unsubscribe_token(SECRET, 17, "transactional")
    assert token.startswith("17.t.")
    assert read_unsubscribe_token(SECRET, token) == UnsubscribeToken(17, "transactional")
    assert read_unsubscribe_token(SECRET, unsubscribe_token(SECRET, 17)) == (17, "marketing")


def test_a_token_fits_in_a_url_as_it_is() -> None:
    token = unsubscribe_token(SECRET, 17)
    assert set(token) <= set("0123456789.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


def test_a_token_with_another_customer_id_is_rejected() -> None:
    mac = unsubscribe_token(SECRET, 17).rpartition(".")[2]
    assert read_unsubscribe_token(SECRET, f"18.m.{mac}") is None


def test_a_token_with_another_class_is_rejected() -> None:
    mac = unsubscribe_token(SECRET, 17, "transactional").rpartition(".")[2]
    assert read_unsubscribe_token(SECRET, f"17.m.{mac}") is None


def test_a_token_with_an_altered_signature_is_rejected() -> None:
    token = unsubscribe_token(SECRET, 17)
    last = "A" if token[-1] != "A" else "B"
    assert read_unsubscribe_token(SECRET, token[:-1] + last) is None


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    token = unsubscribe_token(b"another-secret-" + b"x" * 20, 17)
    assert read_unsubscribe_token(SECRET, token) is None


def test_a_link_sent_before_message_classes_still_unsubscribes_from_marketing() -> None:
    digest = hmac.new(SECRET, b"unsubscribe:v1:17", hashlib.sha256).digest()
    old = "17." + base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")
    assert read_unsubscribe_token(SECRET, old) == UnsubscribeToken(17, "marketing")


@pytest.mark.parametrize(
    "token", ["", "17", "17.", ".abc", "x.abc", "-1.abc", "17.abc", "17.x.abc", "17.m.", "1.m.a.b"]
)
def test_a_malformed_token_is_rejected(token: str) -> None:
    assert read_unsubscribe_token(SECRET, token) is None
