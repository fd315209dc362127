"""The platforms' bulk code exports, read for a pool: each code once, upper-case, and a file
without a code column refused naming the columns it has."""

from __future__ import annotations

import pytest

from tests.support.webhooks import FIXTURES
from worker.loyalty import code_files


def test_shopifys_and_woocommerces_exports_are_read_into_a_pool() -> None:
    shopify = (FIXTURES / "codes" / "shopify_discount_codes.csv").read_text(encoding="utf-8")
    woo = (FIXTURES / "codes" / "woocommerce_coupons.csv").read_text(encoding="utf-8")

    assert code_files.read_code_file(shopify) == (
        "shopify",
        ["WELCOME-7H2K", "WELCOME-Q9XM", "WELCOME-3RTB"],
    )
    assert code_files.read_code_file(woo) == ("woocommerce", ["LOYAL-5A1", "LOYAL-5B2"])
    with pytest.raises(code_files.CodeFileError) as raised:
        code_files.read_code_file("Title,Value\nSpring,5\n")
    assert str(raised.value) == (
        "line 1: no code column (Shopify's export has `Code`, WooCommerce's `post_title`"
        " or `coupon_code`; this file has: title, value)"
    )
