"""Product recommendations, precomputed by the daily refresh: bought together, best-sellers."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class ProductRecommendation(SQLModel, table=True):
    """One product to suggest to the owner of `anchor`.

    `anchor` is a product id (kind 1: bought together with it), `category:<name>` (kind 2: a
    best-seller of that category) or `*` (kind 3: a best-seller of the shop). The primary key
    leads with `anchor`, so a customer's top N is one indexed look-up.
    """

    __tablename__ = "product_recommendations"

    anchor: str = Field(primary_key=True, max_length=210)
    product_id: str = Field(primary_key=True, max_length=128)
    kind: int
    score: int  # customers who bought both (kind 1), or who bought it (kinds 2 and 3)
    title: str = Field(max_length=500)
    category: str | None = Field(default=None, max_length=200)
    price: int  # minor units of `currency`, the latest price seen
    currency: str = Field(max_length=3)
