"""The facts' money: which amount of an order counts, in the shop's currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from worker.canonical import OrderIn
from worker.processing.money import CurrencyRefused, ShopMoney, shop_share

EURO_SHOP = ShopMoney("EUR", {"JPY": Decimal("0.0061")})


def order(**fields: Any) -> OrderIn:
    return OrderIn.model_validate({"id": "7", **fields})


def test_an_order_in_the_shop_currency_counts_as_it_is() -> None:
    assert EURO_SHOP.total_of(order(total="45.90", currency="EUR")) == 4590


def test_the_platform_shop_currency_amount_wins_over_a_rate() -> None:
    yen = order(total="5000", currency="JPY", shop_total={"amount": "31.20", "currency": "EUR"})
    assert EURO_SHOP.total_of(yen) == 3120


def test_an_order_in_another_currency_is_converted_at_its_rate() -> None:
    assert EURO_SHOP.total_of(order(total="5000", currency="JPY")) == 3050


def test_an_order_in_a_currency_with_no_rate_is_refused_naming_both_currencies() -> None:
    with pytest.raises(CurrencyRefused, match=r"order 7 is in USD, the shop counts in EUR"):
        EURO_SHOP.total_of(order(total="10.00", currency="USD"))


@pytest.mark.parametrize(("part", "expected"), [(0, 0), (500, 381), (4000, 3050), (9999, 3050)])
def test_a_refund_counts_in_the_shop_currency_at_the_order_rate(part: int, expected: int) -> None:
    # A 40.00 USD order counted as 30.50 EUR: 5.00 back is 3.8125 EUR, rounded half up.
    assert shop_share(3050, part, 4000) == expected
