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
