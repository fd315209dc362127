"""The facts' money: an order's total in the shop's currency, and its refunds at its own rate.

Customers' totals add orders up, so every order is counted in one currency, the shop's
(`DEFAULT_CURRENCY`). An order paid in it counts as is; one paid in another counts as the
platform's own shop-currency amount (Shopify's `shop_money`, `order.shop_total`), else as its
total times the currency's rate in `EXCHANGE_RATES`; with none of these it is refused by name
(the event is kept, failed with the reason), never summed raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from models.types import to_minor
from worker.canonical import OrderIn
from worker.settings import Settings


class CurrencyRefused(Exception):
    """An order in a currency Ladder cannot count in the shop's: the message names both."""


@dataclass(frozen=True)
class ShopMoney:
    currency: str = "EUR"
    rates: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> ShopMoney:
        return cls(settings.default_currency, settings.rates)

    def total_of(self, order: OrderIn) -> int:
        """The order's total in minor units of the shop's currency. Raises CurrencyRefused."""
        if order.currency == self.currency:
            return to_minor(order.total, self.currency)
        given = order.shop_total
        if given is not None and given.currency == self.currency:
            return to_minor(given.amount, self.currency)
        candidates = [(order.total, order.currency)]
        if given is not None:
            candidates.append((given.amount, given.currency))
        for amount, currency in candidates:
            rate = self.rates.get(currency)
            if rate is not None:
                converted = (amount * rate).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
                return to_minor(converted, self.currency)
        raise CurrencyRefused(
            f"order {order.id} is in {order.currency}, the shop counts in {self.currency}, and"
            f" the event gives no {self.currency} amount (order.shop_total) nor does"
            f" EXCHANGE_RATES give a rate for {order.currency} (e.g."
            f" EXCHANGE_RATES={order.currency}=…)"
        )


def shop_share(shop_total: int, part: int, total: int) -> int:
    """`part` of an order of `total` (both in the order's currency) in the shop's currency, at
    the order's own rate (shop_total / total), rounded half up; all of it when part ≥ total."""
    if total <= 0 or part >= total:
        return shop_total
    share = Decimal(shop_total) * Decimal(part) / Decimal(total)
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))
