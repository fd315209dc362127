"""Sample customers for `ladder check` and the previews: one per segment and language, with an
order, recommendations and every name a template may read (templates/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from worker.audience.recommendations import product_url
from worker.delivery.composing import personal_links
from worker.rendering.variables import shop_view
from worker.settings import Settings

# The date every sample is rendered at, so snapshots and previews do not change by the day.
SAMPLE_NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)

_PEOPLE = {
    "en": ("Olivia", "Smith", "USD", "America/New_York"),
    "es": ("Lucía", "García", "EUR", "Europe/Madrid"),
    "es_MX": ("Valeria", "Hernández", "MXN", "America/Mexico_City"),
    "de": ("Lena", "Müller", "EUR", "Europe/Berlin"),
    "ru": ("Анна", "Иванова", "RUB", "Europe/Moscow"),
    "zh": ("芳", "王", "CNY", "Asia/Shanghai"),
}
_PRODUCTS = [
    ("p-9", "Sencha green tea", "tea", Decimal("22.95")),
    ("p-12", "Cast-iron teapot", "teaware", Decimal("48.00")),
    ("p-31", "Jasmine pearls", "tea", Decimal("18.50")),
    ("p-40", "Bamboo tea whisk", "teaware", Decimal("12.00")),
]

SAMPLE_CODE = "LDR-7Q2MX4KD9B3T"  # a reward code, as the platforms' APIs get them


def _person(locale: str) -> tuple[str, str, str, str]:
    return _PEOPLE.get(locale) or _PEOPLE.get(locale.split("_")[0]) or _PEOPLE["en"]


def sample_context(
    settings: Settings,
    *,
    segment: str | None = "champions",
    locale: str = "en",
    named: bool = True,
    now: datetime = SAMPLE_NOW,
) -> dict[str, Any]:
    """A plausible customer of `segment` who reads `locale`; `named=False` leaves out the
    first name, as many platforms do."""
    first, last, currency, zone = _person(locale)
    shop_url = settings.shop_url
    lines = [
        {
            "product_id": pid,
            "title": title,
            "category": category,
            "quantity": quantity,
            "price": price,
            "url": product_url(shop_url, pid),
        }
        for (pid, title, category, price), quantity in zip(_PRODUCTS[:2], (2, 1), strict=True)
    ]
    total = sum(
        (
            price * quantity
            for (_, _, _, price), quantity in zip(_PRODUCTS[:2], (2, 1), strict=True)
        ),
        Decimal(0),
    )
    last_order_at = now - timedelta(days=61)
    token = "0.sample"
    return {
        "event": {
            "id": "e-1001",
            "source": "api",
            "type": "order.placed",
            "occurred_at": now,
            # What Ladder's own loyalty events carry (points.earned, tier.changed).
            "data": {
                "points": 58,
                "order_id": "1001",
                "available_at": (now + timedelta(days=30)).isoformat(),
                "action": None,  # an action's event type (review.posted…); none for an order
                "first": False,  # a customer's first points, which the welcome tells instead
                "from": "member",
                "to": "silver",
                "direction": "up",
                # What the grace below a tier carries (tier.at_risk): spend in the shop's
                # currency as a decimal string, or points; `tier` is the tier to keep.
                "tier": "silver",
                "tiers_by": "spend",
                "figure": "212.60",
                "threshold": "250",
                "to_keep": "37.40",
                "grace_ends": (now + timedelta(days=30)).isoformat(),
                # What a customer's first points carry (loyalty.joined).
                "programme": "points-and-tiers",
                "pending": 58,
                # What a reward's events carry (reward.unlocked, reward.redeemed).
                "reward": "five-off",
                "title": "5 euros off",
                "partner": None,
                "code": SAMPLE_CODE,
                "expires_at": (now + timedelta(days=90)).isoformat(),
                # What a sweepstake's win carries (sweepstake.won).
                "sweepstake": "summer-hamper",
                "prize": "A hamper of this summer's teas",
                "seed": "0" * 64,
                # What a paid membership's sweeps carry (membership.renewal_due, .lapsed).
                "plan": "price_yearly",
                "period_end": (now + timedelta(days=7)).isoformat(),
                "renews": True,
                # What a survey's answer and comment carry (survey.answered, .commented).
                "kind": "nps",
                "score": 4,
                "comment": "The tea was lovely, but the parcel took two weeks.",
            },
        },
        "customer": {
            "id": 0,
            "email": "sample@example.com",
            "first_name": first if named else None,
            "last_name": last,
            "locale": locale,
            "timezone": zone,
            "birthday": None,
            "accepts_marketing": True,
            "orders_count": 7,
            "total_spent": Decimal("412.60"),
            "average_order_value": Decimal("58.94"),
            "currency": currency,
            "first_order_at": now - timedelta(days=400),
            "last_order_at": last_order_at,
            "days_since_last_order": 61,
            "rfm": "545",
            "segment": segment,
            "p_alive": 0.87,
            "predicted_orders": 3.4,
            "clv": Decimal("186.40"),
            "abc": "A",
            "rung": "at_risk",
            "previous_rung": "loyal",
            "rung_changed_at": now - timedelta(days=1),
        },
        "order": {
            "id": "1001",
            "status": "placed",
            "total": total,
            "currency": currency,
            "refunded": Decimal(0),
            "shop_total": total,
            "placed_at": last_order_at,
            "lines": lines,
        },
        "before": {
            "orders_count": 6,
            "total_spent": Decimal("318.70"),
            "average_order_value": Decimal("53.12"),
        },
        "segment": segment or "default",
        "shop": shop_view(settings),
        "recommendations": [
            {
                "product_id": pid,
                "title": title,
                "category": category,
                "price": price,
                "currency": currency,
                "url": product_url(shop_url, pid),
            }
            for pid, title, category, price in _PRODUCTS[2:]
        ],
        "loyalty": {
            "points": 240,
            "pending": 58,
            "tier": "silver",
            "multiplier": Decimal("1.25"),
            "next_tier": "gold",
            "to_next_tier": Decimal("337.40"),
            "progress": 33,
            "tiers_by": "spend",
            "rewards": [
                {
                    "name": "five-off",
                    "title": "5 euros off",
                    "kind": "amount_off",
                    "value": Decimal(5),
                    "product": None,
                    "partner": None,
                    "code": SAMPLE_CODE,
                    "expires_at": now + timedelta(days=90),
                }
            ],
            "membership": {
                "plan": "price_yearly",
                "status": "active",
                "active": True,
                "active_until": now + timedelta(days=7),
                "renews": True,
                "multiplier": Decimal(2),
                "free_shipping": True,
            },
            "points_per_unit": Decimal(1),
            "tiers": [
                {"name": "member", "threshold": Decimal(0), "multiplier": Decimal(1)},
                {"name": "silver", "threshold": Decimal(250), "multiplier": Decimal("1.25")},
                {"name": "gold", "threshold": Decimal(750), "multiplier": Decimal("1.5")},
            ],
        },
        "now": now,
        "unsubscribe_url": f"{settings.public_url.rstrip('/')}/u/{token}",
        "preferences_url": f"{settings.public_url.rstrip('/')}/u/{token}/preferences",
        # Survey links as composing makes them, for delivery 0: their page records nothing.
        "survey": personal_links(settings, 0)["survey"],
        "loyalty_url": personal_links(settings, 0)["loyalty_url"],
    }
