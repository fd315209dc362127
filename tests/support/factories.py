"""Small factories: canonical events as a platform or the API would send them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from worker.canonical import CanonicalEvent


def order_event(
    *,
    event_id: str,
    order_id: str,
    at: datetime,
    email: str = "ana@example.com",
    total: str | Decimal = "45.90",
    currency: str = "EUR",
    type: str = "order.placed",
    locale: str | None = "en",
    consent: bool = True,
    first_name: str | None = "Ana",
    source: str = "api",
    order: dict[str, Any] | None = None,
    **customer: Any,
) -> CanonicalEvent:
    """`order` adds fields to the order (`refund`, `placed_at`, `shop_total`)."""
    return CanonicalEvent.model_validate(
        {
            "source": source,
            "id": event_id,
            "type": type,
            "occurred_at": at.isoformat(),
            "customer": {
                "email": email,
                "first_name": first_name,
                "locale": locale,
                "accepts_marketing": consent,
                **customer,
            },
            "order": {
                "id": order_id,
                "total": str(total),
                "currency": currency,
                "lines": [
                    {
                        "product_id": "p-9",
                        "title": "Green tea",
                        "category": "tea",
                        "quantity": 1,
                        "price": str(total),
                    }
                ],
                **(order or {}),
            },
        }
    )


def customer_event(
    *, event_id: str, at: datetime, type: str = "customer.updated", **customer: Any
) -> CanonicalEvent:
    return CanonicalEvent.model_validate(
        {
            "source": "api",
            "id": event_id,
            "type": type,
            "occurred_at": at.isoformat(),
            "customer": {"email": "ana@example.com", **customer},
        }
    )


def shipped_message(trigger: str, customer_id: int) -> str:
    """The template folder the shipped trigger `trigger` sends this customer: its own, or the
    one its A/B test's hash gives them (the thank-you tests its subject)."""
    from triggers import load_trigger
    from worker.scheduling import ab_split
    from worker.settings import PROJECT_ROOT

    [found] = [
        t
        for t in (load_trigger(p) for p in sorted((PROJECT_ROOT / "triggers").glob("*.toml")))
        if t.name == trigger
    ]
    if not found.variants:
        return found.message
    shares = [(v.name, v.share) for v in found.variants]
    name = ab_split.variant_of(trigger, shares, customer_id)
    [variant] = [v for v in found.variants if v.name == name]
    return variant.message or found.message
