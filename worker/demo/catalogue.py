"""What the demo shop sells: coffee, tea and the things to make them with, priced in EUR."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    category: str
    price: Decimal
    premium: bool = False


CATALOGUE = (
    Product("p-101", "Ethiopia Yirgacheffe beans 250 g", "coffee", Decimal("12.90")),
    Product("p-102", "Colombia Huila beans 1 kg", "coffee", Decimal("38.50")),
    Product("p-103", "House espresso blend 500 g", "coffee", Decimal("16.40")),
    Product("p-104", "Swiss water decaf 250 g", "coffee", Decimal("11.90")),
    Product("p-201", "Sencha green tea 100 g", "tea", Decimal("9.80")),
    Product("p-202", "Darjeeling first flush 100 g", "tea", Decimal("14.50")),
    Product("p-203", "Rooibos vanilla 150 g", "tea", Decimal("7.90")),
    Product("p-204", "Ceremonial matcha 30 g", "tea", Decimal("24.00")),
    Product("p-301", "Ceramic pour-over dripper", "brewing", Decimal("22.00")),
    Product("p-302", "Paper filters, pack of 100", "brewing", Decimal("5.50")),
    Product("p-303", "French press 1 l", "brewing", Decimal("34.90")),
    Product("p-401", "Stoneware mug", "ceramics", Decimal("18.00")),
    Product("p-402", "Porcelain teapot", "ceramics", Decimal("42.00")),
    Product("p-501", "Tasting gift box", "gifts", Decimal("29.90")),
    Product("p-601", "Conical burr grinder", "equipment", Decimal("189.00"), premium=True),
    Product("p-602", "Dual-boiler espresso machine", "equipment", Decimal("649.00"), premium=True),
    Product("p-603", "Gooseneck kettle", "brewing", Decimal("79.00"), premium=True),
    Product("p-604", "Hand-thrown tea set", "ceramics", Decimal("145.00"), premium=True),
    Product("p-605", "Coffee subscription, 3 months", "coffee", Decimal("99.00"), premium=True),
)
EVERYDAY = tuple(product for product in CATALOGUE if not product.premium)
PREMIUM = tuple(product for product in CATALOGUE if product.premium)
