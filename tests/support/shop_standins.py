"""Local HTTP servers standing in for the store platforms' discount APIs: Shopify's Admin GraphQL
(`discountCodeBasicCreate`, `discountCodeFreeShippingCreate`) and WooCommerce's REST coupons.

Each checks a request the way its platform documents it and answers as the platform does,
errors included, so the issuers are tested against the contract, not against themselves:

- Shopify (shopify.dev, Admin GraphQL 2026-01): `POST /admin/api/<version>/graphql.json`, the
  token in `X-Shopify-Access-Token` (else 401 `{"errors": "[API] Invalid API key or access
  token …"}`), a JSON body `{"query", "variables"}`; `DiscountCodeBasicInput` requires `code`,
  `context` (or the older `customerSelection`), `customerGets`, `startsAt` and `title`; a field
  the input type does not define is a top-level GraphQL error; a code the shop has is
  `userErrors: [{"field": [...,"code"], "code": "TAKEN", "message": "Code must be unique…"}]`.
- WooCommerce (REST API v3, "Create a coupon"): `POST /wp-json/wc/v3/coupons`, HTTP Basic with
  the consumer key and secret (else 401 `woocommerce_rest_cannot_create`), `code` required
  (else 400 `rest_missing_callback_param`), `discount_type` one of percent, fixed_cart,
  fixed_product (else 400 `rest_invalid_param`); a code the shop has (codes are kept
  lower-case) is 400 `woocommerce_rest_coupon_code_already_exists`; created: 201, the coupon.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHOPIFY_TOKEN = "shpat_test-token-not-real"
SHOPIFY_VERSION = "2026-01"
WOO_KEY, WOO_SECRET = "ck_test_key_not_real", "cs_test_secret_not_real"

BASIC_FIELDS = {
    "appliesOncePerCustomer", "code", "combinesWith", "context", "customerGets", "endsAt",
    "minimumRequirement", "recurringCycleLimit", "startsAt", "title", "usageLimit",
    "customerSelection",
}  # fmt: skip
FREE_SHIPPING_FIELDS = {
    "appliesOncePerCustomer", "appliesOnOneTimePurchase", "appliesOnSubscription", "code",
    "combinesWith", "context", "customerSelection", "destination", "endsAt",
    "maximumShippingPrice", "minimumRequirement", "recurringCycleLimit", "startsAt", "title",
    "usageLimit",
}  # fmt: skip
MUTATIONS = {
    "discountCodeBasicCreate": ("basicCodeDiscount", "DiscountCodeBasicInput", BASIC_FIELDS),
    "discountCodeFreeShippingCreate": (
        "freeShippingCodeDiscount",
        "DiscountCodeFreeShippingInput",
        FREE_SHIPPING_FIELDS,
    ),
}
WOO_FIELDS = {
    "code", "amount", "discount_type", "description", "date_expires", "date_expires_gmt",
    "individual_use", "product_ids", "excluded_product_ids", "usage_limit",
    "usage_limit_per_user", "limit_usage_to_x_items", "free_shipping", "product_categories",
    "excluded_product_categories", "exclude_sale_items", "minimum_amount", "maximum_amount",
    "email_restrictions", "meta_data",
}  # fmt: skip
WOO_TYPES = {"percent", "fixed_cart", "fixed_product"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Shop:
    """What the stand-in holds and how it is told to misbehave."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # by code as stored
    received: list[Received] = field(default_factory=list)
    # The next requests' fates, in order: "away" (503), "lose" (create, then answer 502),
    # "throttle" (Shopify's THROTTLED error); empty: answer as the platform does.
    next: list[str] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))
    lock: threading.Lock = field(default_factory=threading.Lock)


def _shopify_problem(body: Any) -> str | None:
    """Why Shopify would refuse this body with a top-level error; None if it would run it."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return "Parameter Missing or Invalid: query"
    name = next((name for name in MUTATIONS if name in body["query"]), None)
    if name is None:
        return "this stand-in knows discountCodeBasicCreate and discountCodeFreeShippingCreate"
    variable, kind, known = MUTATIONS[name]
    if f"${variable}: {kind}!" not in body["query"]:
        return f"Variable ${variable} is declared by {name} but not used"
    value = (body.get("variables") or {}).get(variable)
    if not isinstance(value, dict):
        return f"Variable ${variable} of type {kind}! was provided invalid value"
    for extra in sorted(set(value) - known):
        return f"Variable ${variable} of type {kind}! was provided invalid value for {extra}"
    required = ["code", "startsAt", "title"] + (["customerGets"] if "Basic" in kind else [])
    missing = [key for key in required if value.get(key) in (None, "")]
    if "context" not in value and "customerSelection" not in value:
        missing.append("context")
    if missing:
        return f"Variable ${variable} of type {kind}! was provided invalid value: {missing}"
    if "Basic" in kind:
        return _customer_gets_problem(value["customerGets"])
    return None


def _customer_gets_problem(gets: Any) -> str | None:
    value, items = (gets or {}).get("value") or {}, (gets or {}).get("items") or {}
    if len(value) != 1 or not set(value) <= {"percentage", "discountAmount", "discountOnQuantity"}:
        return "DiscountCustomerGetsValueInput takes exactly one of its fields"
    if "percentage" in value and not 0 < float(value["percentage"]) <= 1:
        return "percentage must be between 0.0 and 1.0"
    if "discountAmount" in value and set(value["discountAmount"]) != {
        "amount",
        "appliesOnEachItem",
    }:
        return "DiscountAmountInput takes amount and appliesOnEachItem"
    if items != {"all": True} and not (items.get("products") or {}).get("productsToAdd"):
        return "DiscountItemsInput needs all: true, products or collections"
    return None


def _woo_problem(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict) or not body.get("code"):
        return "rest_missing_callback_param", "Missing parameter(s): code"
    if body.get("discount_type", "fixed_cart") not in WOO_TYPES:
        return "rest_invalid_param", "Invalid parameter(s): discount_type"
    extra = sorted(set(body) - WOO_FIELDS)
    if extra:  # WooCommerce ignores them; the stand-in says so, as nothing should be sent blind
        return "rest_invalid_param", f"not a coupon field: {extra}"
    return None


class _Handler(BaseHTTPRequestHandler):
    shop: Shop
    platform: str

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `shop.received`."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.shop.lock:
            self.shop.received.append(Received(self.path, headers, body))
            fate = self.shop.next.pop(0) if self.shop.next else ""
        if fate == "away":
            return self._answer(503, {"errors": "Service Unavailable"})
        if self.platform == "shopify":
            status, document = self._shopify(headers, body, fate)
        else:
            status, document = self._woocommerce(headers, body)
        if fate == "lose":  # made, but the answer never arrives as it should
            return self._answer(502, {"errors": "Bad Gateway"})
        self._answer(status, document)

    def _shopify(self, headers: dict[str, str], body: bytes, fate: str) -> tuple[int, Any]:
        if self.path != f"/admin/api/{SHOPIFY_VERSION}/graphql.json":
            return 404, {"errors": "Not Found"}
        if headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
            message = "[API] Invalid API key or access token (unrecognized login or wrong password)"
            return 401, {"errors": message}
        if not headers.get("content-type", "").startswith("application/json"):
            return 400, {"errors": "Content-Type must be application/json"}
        if fate == "throttle":
            return 200, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
        document = json.loads(body)
        problem = _shopify_problem(document)
        if problem is not None:
            return 200, {
                "errors": [{"message": problem, "extensions": {"code": "INVALID_VARIABLE"}}]
            }
        name = next(name for name in MUTATIONS if name in document["query"])
        variable = MUTATIONS[name][0]
        value = document["variables"][variable]
        code = value["code"]
        with self.shop.lock:
            if code.upper() in {known.upper() for known in self.shop.created}:
                error = {
                    "field": [variable, "code"],
                    "code": "TAKEN",
                    "message": "Code must be unique. Please try a different code.",
                }
                return 200, {"data": {name: {"codeDiscountNode": None, "userErrors": [error]}}}
            self.shop.created[code] = value
            node = {"id": f"gid://shopify/DiscountCodeNode/{next(self.shop.ids)}"}
        return 200, {"data": {name: {"codeDiscountNode": node, "userErrors": []}}}

    def _woocommerce(self, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if self.path != "/wp-json/wc/v3/coupons":
            return 404, {
                "code": "rest_no_route",
                "message": "No route was found",
                "data": {"status": 404},
            }
        expected = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_SECRET}".encode()).decode()
        if headers.get("authorization") != expected:
            message = "Sorry, you are not allowed to create resources."
            return 401, {
                "code": "woocommerce_rest_cannot_create",
                "message": message,
                "data": {"status": 401},
            }
        document = json.loads(body) if body else None
        problem = _woo_problem(document)
        if problem is not None:
            return 400, {"code": problem[0], "message": problem[1], "data": {"status": 400}}
        assert isinstance(document, dict)
        code = str(document["code"]).lower()  # wc_format_coupon_code: kept lower-case
        with self.shop.lock:
            if code in self.shop.created:
                message = "The coupon code already exists"
                return 400, {
                    "code": "woocommerce_rest_coupon_code_already_exists",
                    "message": message,
                    "data": {"status": 400},
                }
            self.shop.created[code] = document
            coupon = {"id": next(self.shop.ids), **document, "code": code, "usage_count": 0}
        return 201, coupon

    def _answer(self, status: int, document: Any) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def standin(platform: str) -> Iterator[tuple[str, Shop]]:
    """A running stand-in for "shopify" or "woocommerce": (its base URL, its shop)."""
    shop = Shop()
    handler = type("Handler", (_Handler,), {"shop": shop, "platform": platform})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", shop
    finally:
        server.shutdown()
        server.server_close()
