"""Unsubscribe tokens: signed customer ids that cannot be forged or altered."""

from __future__ import annotations

import pytest

from worker.tokens import read_unsubscribe_token, unsubscribe_token

SECRET = b"s" * 32


def test_a_token_reads_back_as_the_customer_it_was_made_for() -> None:
    token = unsubscribe_token(SECRET, 17)
    assert token.startswith("17.")
    assert read_unsubscribe_token(SECRET, token) == 17


def test_a_token_fits_in_a_url_as_it_is() -> None:
    token = unsubscribe_token(SECRET, 17)
    assert set(token) <= set("0123456789.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


def test_a_token_with_another_customer_id_is_rejected() -> None:
    mac = unsubscribe_token(SECRET, 17).partition(".")[2]
    assert read_unsubscribe_token(SECRET, f"18.{mac}") is None


def test_a_token_with_an_altered_signature_is_rejected() -> None:
    token = unsubscribe_token(SECRET, 17)
    last = "A" if token[-1] != "A" else "B"
    assert read_unsubscribe_token(SECRET, token[:-1] + last) is None


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    token = unsubscribe_token(b"another-secret-" + b"x" * 20, 17)
    assert read_unsubscribe_token(SECRET, token) is None


@pytest.mark.parametrize("token", ["", "17", "17.", ".abc", "x.abc", "-1.abc", "17.abc"])
def test_a_malformed_token_is_rejected(token: str) -> None:
    assert read_unsubscribe_token(SECRET, token) is None
