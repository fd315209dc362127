"""The canonical event as `POST /events` and `ladder import` take it, validated strictly."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.types import to_minor
from worker.event_types import incoming_problem
from worker.hygiene import printable, text_problem, time_problem, unstorable_text

# Lengths are the columns' (models/): a longer value would be refused by PostgreSQL later.
EventType = Annotated[
    str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
]
Source = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=3, allow_inf_nan=False)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# Amounts are stored in minor units in INTEGER columns (orders.total, order_lines.price).
MAX_MINOR_UNITS = 2**31 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Text the database cannot store (a NUL, a lone surrogate) is refused here, naming the
        field, rather than accepted and failing later on every try."""
        if isinstance(value, str) and (problem := text_problem(value)) is not None:
            raise ValueError(problem)
        if isinstance(value, dict) and (found := next(unstorable_text(value), None)):
            raise ValueError(": ".join(found))
        return value


class CustomerIn(_Strict):
    id: ExternalId | None = None
    email: EmailStr | None = None
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(
        default=None, max_length=35, pattern=r"^[a-zA-Z]{2,3}([_-][a-zA-Z0-9]{2,8})*$"
    )
    timezone: str | None = Field(default=None, max_length=64)
    birthday: date | None = None
    accepts_marketing: bool | None = None
    # The address of the customer who referred them (a referral link's sign-up).
    referred_by: EmailStr | None = None

    @field_validator("referred_by")
    @classmethod
    def _normalise_referrer(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else value

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else value

    @model_validator(mode="after")
    def _needs_a_handle(self) -> CustomerIn:
        if self.id is None and self.email is None:
            raise ValueError("a customer needs an id or an email")
        return self


class LineIn(_Strict):
    product_id: ExternalId | None = None
    title: str = Field(min_length=1, max_length=500)
    category: str | None = Field(default=None, max_length=200)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    price: Amount


class MoneyIn(_Strict):
    amount: Amount
    currency: Currency


class RefundIn(_Strict):
    """What one refund gave back, in the order's currency. Its `id` (the platform's refund id)
    makes the same refund, seen again under another event id, count once."""

    id: ExternalId | None = None
    amount: Amount


DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def digest(kind: str, value: str) -> str:
    """The form a fingerprint is kept in (`sha256:<hex>`), never the value itself."""
    return "sha256:" + hashlib.sha256(f"ladder:{kind}:{value}".encode()).hexdigest()


class FingerprintsIn(_Strict):
    """What an order says about who paid and from where, for fair play (a referral between
    one person's two addresses). Platforms' readers send keyed digests (`sha256:<hex>`); any
    other value is digested here, so the event stored never holds it."""

    payment: str | None = Field(default=None, min_length=1, max_length=500)
    device: str | None = Field(default=None, min_length=1, max_length=500)
    address: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("payment", "device", "address")
    @classmethod
    def _digested(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or DIGEST.match(value):
            return value
        return digest(str(info.field_name), value.strip().lower())


class OrderIn(_Strict):
    id: ExternalId
    total: Amount
    currency: Currency
    # The same total in the shop's currency (Shopify's `shop_money`), when the order was paid
    # in another; without it an order in a foreign currency is converted by EXCHANGE_RATES.
    shop_total: MoneyIn | None = None
    # When the order was placed, whichever event tells of it (a `paid` may come first).
    placed_at: AwareDatetime | None = None
    # On `order.refunded`: how much this refund gave back; absent, the order is refunded in full.
    refund: RefundIn | None = None
    lines: list[LineIn] = Field(default_factory=list, max_length=1000)
    # The discount codes the order used (Shopify `discount_codes`, WooCommerce `coupon_lines`):
    # how a loyalty reward is known to be redeemed.
    discount_codes: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=50
    )
    fingerprints: FingerprintsIn | None = None

    @field_validator("discount_codes")
    @classmethod
    def _codes_in_one_case(cls, value: list[str]) -> list[str]:
        """Both platforms take a code in any case (WooCommerce keeps it lower-case): Ladder
        keeps codes upper-case, so the code an order names finds the reward's."""
        return [code.upper() for code in value]

    @field_validator("placed_at")
    @classmethod
    def _storable_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and (problem := time_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _amounts_fit(self) -> OrderIn:
        """An amount whose minor units its column cannot hold is refused here, naming it."""
        amounts = [("total", self.total, self.currency)]
        amounts += [
            (f"lines.{i}.price", line.price, self.currency) for i, line in enumerate(self.lines)
        ]
        if self.shop_total is not None:
            amounts.append(("shop_total.amount", self.shop_total.amount, self.shop_total.currency))
        if self.refund is not None:
            amounts.append(("refund.amount", self.refund.amount, self.currency))
        for name, amount, currency in amounts:
            if to_minor(amount, currency) > MAX_MINOR_UNITS:
                raise ValueError(f"{name}: {amount} {currency} is more than Ladder stores")
        return self


class CanonicalEvent(_Strict):
    source: Source = "api"
    # The platform account it came from (a shop domain, a site, a Stripe account): recorded
    # with the customer's platform id, so a shop's erasure reaches that shop's customers only.
    account: str | None = Field(default=None, min_length=1, max_length=255)
    id: str = Field(min_length=1, max_length=255)
    type: EventType
    occurred_at: AwareDatetime
    customer: CustomerIn
    order: OrderIn | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _storable_time(cls, value: datetime) -> datetime:
        if (problem := time_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _orders_carry_an_order(self) -> CanonicalEvent:
        if self.type.startswith("order.") and self.order is None:
            raise ValueError(f"a {self.type} event needs an `order`")
        return self


class IncomingEvent(CanonicalEvent):
    """An event from outside (`POST /events`, `ladder import`): its type is one Ladder knows
    (worker/event_types.py) or a custom one (`custom.…`), never one Ladder makes itself. The
    platforms' readers and Ladder's own events use CanonicalEvent, whose types they choose."""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if (problem := incoming_problem(value)) is not None:
            raise ValueError(problem)
        return value


def describe_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as `{"field": "order.lines.0.price", "error": "…"}`, one per field."""
    described = []
    for item in error.errors(include_url=False):
        path = ".".join(printable(str(part)) for part in item["loc"])
        described.append({"field": f"{prefix}{path or '(event)'}", "error": item["msg"]})
    return described
