"""Reward codes created in a WooCommerce shop through its REST API (`POST /wp-json/wc/v3/coupons`),
each for one use by the customer's address."""

from __future__ import annotations

from typing import Any

import httpx

from worker.loyalty.codes import CodeRequest, IssueError
from worker.settings import Settings

NAME = "woocommerce"
PATH = "/wp-json/wc/v3/coupons"
# WooCommerce's error code for a coupon code the shop has already.
TAKEN = "woocommerce_rest_coupon_code_already_exists"
TRANSIENT_STATUSES = {429, 500, 502, 503, 504}


class WooCommerceCoupons:
    platform = NAME

    def __init__(self, url: str, key: str, secret: str, *, timeout_s: float) -> None:
        self.url, self.auth, self.timeout_s = url + PATH, (key, secret), timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> WooCommerceCoupons | None:
        """None unless WOOCOMMERCE_URL, WOOCOMMERCE_KEY and WOOCOMMERCE_SECRET are set."""
        key, secret = settings.woocommerce_key, settings.woocommerce_secret
        if settings.woocommerce_url is None or key is None or secret is None:
            return None
        return cls(
            settings.woocommerce_url,
            key.get_secret_value(),
            secret.get_secret_value(),
            timeout_s=settings.platform_timeout_s,
        )

    def create(self, request: CodeRequest) -> None:
        """Creates the coupon; raises IssueError (`taken` when the shop has it already)."""
        body = coupon(request)
        try:
            # HTTP Basic with the consumer key and secret, as WooCommerce takes them over HTTPS.
            answer = httpx.post(self.url, json=body, auth=self.auth, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise IssueError(
                f"WooCommerce did not answer ({type(exc).__name__})", transient=True
            ) from exc
        if answer.status_code in (200, 201):
            return
        document = _json(answer)
        code, message = document.get("code"), document.get("message")
        raise IssueError(
            f"WooCommerce answered {answer.status_code}: {code}: {message}"[:300],
            taken=code == TAKEN,
            transient=answer.status_code in TRANSIENT_STATUSES,
        )


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def coupon(request: CodeRequest) -> dict[str, Any]:
    """The coupon's JSON: once, by the customer's address only, not with other coupons."""
    reward = request.reward
    found: dict[str, Any] = {
        "code": request.code,
        "description": f"Ladder reward: {reward.title or reward.name}",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "email_restrictions": [request.email],
    }
    if request.expires_at is not None:
        found["date_expires_gmt"] = request.expires_at.strftime("%Y-%m-%dT%H:%M:%S")
    if reward.kind == "free_shipping":
        return {**found, "discount_type": "fixed_cart", "amount": "0", "free_shipping": True}
    assert reward.value is not None
    if reward.kind == "percent_off":
        return {**found, "discount_type": "percent", "amount": str(reward.value)}
    if reward.kind == "amount_off":
        return {**found, "discount_type": "fixed_cart", "amount": str(reward.value)}
    if not (reward.product or "").isdigit():
        raise IssueError(f"WooCommerce product ids are numbers, not {reward.product!r}")
    return {  # one item of the product, free
        **found,
        "discount_type": "percent",
        "amount": "100",
        "product_ids": [int(reward.product or 0)],
        "limit_usage_to_x_items": 1,
    }
