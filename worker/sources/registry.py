"""The platforms Ladder reads, by the name in `POST /webhooks/{platform}`: one line each."""

from __future__ import annotations

from worker.sources import Source, shopify, stripe, woocommerce

SOURCES: dict[str, Source] = {
    "shopify": shopify.source,
    "woocommerce": woocommerce.source,
    "stripe": stripe.source,
}


def get_source(name: str) -> Source | None:
    return SOURCES.get(name)
