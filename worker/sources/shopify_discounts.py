"""Reward codes created in a Shopify shop through the Admin GraphQL API: an amount or percentage
off (`discountCodeBasicCreate`, also one product's price off for a free product) or free
shipping (`discountCodeFreeShippingCreate`), each usable once."""

from __future__ import annotations

from typing import Any

import httpx

from worker.loyalty.codes import CodeRequest, IssueError
from worker.settings import Settings

NAME = "shopify"
FIELDS = "codeDiscountNode { id } userErrors { field code message }"
BASIC = (
    "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {"
    f" discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {{ {FIELDS} }} }}"
)
FREE_SHIPPING = (
    "mutation discountCodeFreeShippingCreate("
    "$freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) {"
    " discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount)"
    f" {{ {FIELDS} }} }}"
)
# Shopify answers these when it is busy or away: the same request may succeed later.
TRANSIENT_STATUSES = {429, 500, 502, 503, 504}


class ShopifyDiscounts:
    platform = NAME

    def __init__(self, url: str, token: str, *, timeout_s: float) -> None:
        self.url, self.token, self.timeout_s = url, token, timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ShopifyDiscounts | None:
        """None unless SHOPIFY_SHOP (or SHOPIFY_ADMIN_URL) and SHOPIFY_ADMIN_TOKEN are set."""
        if settings.shopify_admin_token is None:
            return None
        url = settings.shopify_admin_url
        if url is None and settings.shopify_shop is not None:
            url = (
                f"https://{settings.shopify_shop}/admin/api/{settings.shopify_api_version}"
                "/graphql.json"
            )
        if url is None:
            return None
        token = settings.shopify_admin_token.get_secret_value()
        return cls(url, token, timeout_s=settings.platform_timeout_s)

    def create(self, request: CodeRequest) -> None:
        """Creates the code; raises IssueError (`taken` when the shop has it already)."""
        mutation, name, variable = _mutation(request)
        body = {"query": mutation, "variables": {variable: _input(request)}}
        headers = {"X-Shopify-Access-Token": self.token, "Content-Type": "application/json"}
        try:
            answer = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise IssueError(
                f"Shopify did not answer ({type(exc).__name__})", transient=True
            ) from exc
        if answer.status_code != 200:
            transient = answer.status_code in TRANSIENT_STATUSES
            raise IssueError(f"Shopify answered {answer.status_code}", transient=transient)
        document = _json(answer)
        if document.get("errors"):
            codes = [error.get("extensions", {}).get("code") for error in document["errors"]]
            message = "; ".join(str(error.get("message")) for error in document["errors"])
            raise IssueError(f"Shopify: {message}"[:300], transient="THROTTLED" in codes)
        result = (document.get("data") or {}).get(name) or {}
        errors = result.get("userErrors") or []
        if errors:
            taken = any(error.get("code") == "TAKEN" for error in errors)
            message = "; ".join(str(error.get("message")) for error in errors)
            raise IssueError(f"Shopify: {message}"[:300], taken=taken)
        if not (result.get("codeDiscountNode") or {}).get("id"):
            raise IssueError("Shopify answered without the discount it created", transient=True)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError as exc:
        raise IssueError("Shopify answered something other than JSON", transient=True) from exc
    if not isinstance(document, dict):
        raise IssueError("Shopify answered something other than a JSON object", transient=True)
    return document


def _mutation(request: CodeRequest) -> tuple[str, str, str]:
    if request.reward.kind == "free_shipping":
        return FREE_SHIPPING, "discountCodeFreeShippingCreate", "freeShippingCodeDiscount"
    return BASIC, "discountCodeBasicCreate", "basicCodeDiscount"


def _input(request: CodeRequest) -> dict[str, Any]:
    """DiscountCodeBasicInput / DiscountCodeFreeShippingInput: for any buyer, once."""
    reward = request.reward
    found: dict[str, Any] = {
        "title": f"Ladder reward: {reward.title or reward.name} ({request.code})",
        "code": request.code,
        "startsAt": request.starts_at.isoformat(),
        "endsAt": request.expires_at.isoformat() if request.expires_at else None,
        "context": {"all": "ALL"},
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
    }
    if reward.kind == "free_shipping":
        return {**found, "destination": {"all": True}}
    value = reward.value
    assert value is not None  # the programme file's validation says so
    items: dict[str, Any] = {"all": True}
    if reward.kind == "percent_off":
        gets: dict[str, Any] = {"percentage": float(value / 100)}
    else:  # amount off the order, or one item's price off the free product
        gets = {"discountAmount": {"amount": str(value), "appliesOnEachItem": False}}
    if reward.kind == "free_product":
        items = {"products": {"productsToAdd": [f"gid://shopify/Product/{reward.product}"]}}
    return {**found, "customerGets": {"value": gets, "items": items}}
