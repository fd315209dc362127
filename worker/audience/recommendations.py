"""Recommendations: co-purchase affinity and best-sellers, refreshed set-based in SQL weekly;
a customer's top N read in one indexed query at render time."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import bindparam, text
from sqlmodel import Session

from models.types import to_major

KEEP_PER_ANCHOR = 12  # suggestions kept per product, category and for the whole shop

_COUNTED = "o.status NOT IN ('cancelled', 'refunded')"

# One statement: what each customer bought; the latest title and price of each product; pairs
# bought by the same customer (kind 1); best-sellers per category (2) and of the shop (3);
# the best KEEP_PER_ANCHOR of each anchor.
_REFRESH = f"""
WITH bought AS (
  SELECT DISTINCT o.customer_id, l.product_id, l.category
  FROM order_lines l JOIN orders o ON o.id = l.order_id
  WHERE l.product_id IS NOT NULL AND {_COUNTED}
),
owners AS (SELECT DISTINCT customer_id, product_id FROM bought),
latest AS (
  SELECT product_id, title, category, price, currency FROM (
    SELECT l.product_id, l.title, l.category, l.price, o.currency,
      ROW_NUMBER() OVER (PARTITION BY l.product_id ORDER BY o.placed_at DESC, l.id DESC) AS n
    FROM order_lines l JOIN orders o ON o.id = l.order_id
    WHERE l.product_id IS NOT NULL AND {_COUNTED}
  ) AS ranked WHERE n = 1
),
scored AS (
  SELECT a.product_id AS anchor, b.product_id, 1 AS kind, COUNT(*) AS score
  FROM owners a JOIN owners b ON a.customer_id = b.customer_id AND a.product_id <> b.product_id
  GROUP BY a.product_id, b.product_id
  UNION ALL
  SELECT 'category:' || category, product_id, 2, COUNT(DISTINCT customer_id)
  FROM bought WHERE category IS NOT NULL GROUP BY category, product_id
  UNION ALL
  SELECT '*', product_id, 3, COUNT(*) FROM owners GROUP BY product_id
),
ranked AS (
  SELECT anchor, product_id, kind, score,
    ROW_NUMBER() OVER (PARTITION BY anchor ORDER BY score DESC, product_id) AS n
  FROM scored
)
INSERT INTO product_recommendations
  (anchor, product_id, kind, score, title, category, price, currency)
SELECT r.anchor, r.product_id, r.kind, r.score, p.title, p.category, p.price, p.currency
FROM ranked r JOIN latest p ON p.product_id = r.product_id
WHERE r.n <= :keep
"""

# The customer's top N: bought-together first, then their categories' best-sellers, then the
# shop's; never what they already own. The anchor look-ups use the primary key; what they own
# comes through ix_orders_customer_placed_net and ix_order_lines_order_id.
_FOR_CUSTOMER = """
WITH owned AS (
  SELECT DISTINCT l.product_id, l.category
  FROM orders o JOIN order_lines l ON l.order_id = o.id
  WHERE o.customer_id = :customer_id
),
anchors AS (
  SELECT product_id AS anchor FROM owned WHERE product_id IS NOT NULL
  UNION SELECT 'category:' || category FROM owned WHERE category IS NOT NULL
  UNION SELECT '*'
)
SELECT r.product_id, MAX(r.title) AS title, MAX(r.category) AS category,
  MAX(r.price) AS price, MAX(r.currency) AS currency
FROM anchors a JOIN product_recommendations r ON r.anchor = a.anchor
WHERE r.product_id NOT IN (SELECT product_id FROM owned WHERE product_id IS NOT NULL)
GROUP BY r.product_id
ORDER BY MIN(r.kind), SUM(r.score) DESC, r.product_id
LIMIT :limit
"""


def product_url(shop_url: str, product_id: str | None) -> str:
    """Where a product lives in the shop; the shop's home page for a line without an id."""
    base = shop_url.rstrip("/")
    return f"{base}/products/{quote(product_id)}" if product_id else base


def refresh(db: Session) -> int:
    """Recomputes every recommendation in one transaction; commits. Returns the rows kept."""
    db.execute(text("DELETE FROM product_recommendations"))
    db.execute(text(_REFRESH).bindparams(bindparam("keep")), {"keep": KEEP_PER_ANCHOR})
    db.commit()
    count = db.execute(text("SELECT COUNT(*) FROM product_recommendations")).scalar_one()
    db.commit()
    return int(count)


def for_customer(
    db: Session, customer_id: int, *, limit: int, shop_url: str
) -> list[dict[str, Any]]:
    """Up to `limit` products for this customer, as templates see them (price in major
    units, a link to the product). One query."""
    if limit <= 0:
        return []
    rows = db.execute(text(_FOR_CUSTOMER), {"customer_id": customer_id, "limit": limit}).all()
    return [product_view(row, shop_url) for row in rows]


def product_view(row: Any, shop_url: str) -> dict[str, Any]:
    """One recommended product as templates see it (`ladder check` reads its names here)."""
    return {
        "product_id": row.product_id,
        "title": row.title,
        "category": row.category,
        "price": to_major(row.price, row.currency),
        "currency": row.currency,
        "url": product_url(shop_url, row.product_id),
    }
