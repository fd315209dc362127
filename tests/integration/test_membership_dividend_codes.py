"""The yearly dividend's code is created in Shopify (the local stand-in that checks each request
as Shopify documents it) for the member's own amount, and told by `reward.unlocked`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlmodel import Session

from models.tables import EVENTS
from tests.integration.test_membership_sweeps import DAY, PROGRAMME, T0, YEAR, handle, paid
from tests.support.factories import order_event
from tests.support.shop_standins import SHOPIFY_TOKEN, SHOPIFY_VERSION, Shop, standin
from worker.loyalty import codes, membership_sweeps
from worker.queue import clock
from worker.runtime import Runtime


@pytest.fixture(autouse=True)
def shopify(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """The Shopify stand-in, and the shop configured for it (before `runtime`)."""
    with standin("shopify") as (url, shop):
        monkeypatch.setenv("LOYALTY_PROGRAMME", "paid-membership")
        monkeypatch.setenv("SHOPIFY_ADMIN_URL", f"{url}/admin/api/{SHOPIFY_VERSION}/graphql.json")
        monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", SHOPIFY_TOKEN)
        monkeypatch.setenv("PLATFORM_TIMEOUT_S", "2")
        yield shop


def test_the_dividend_code_takes_off_the_members_own_tenth_of_the_years_spend(
    db: Session, runtime: Runtime, shopify: Shop
) -> None:
    paid(db, runtime, event_id="p1", start=T0, end=T0 + YEAR)
    order = order_event(
        event_id="o1", order_id="1", at=T0 + 30 * DAY, type="order.paid", total="123.40"
    )
    handle(db, runtime, order, at=T0 + 30 * DAY)
    assert PROGRAMME is not None
    currency = runtime.settings.default_currency
    assert membership_sweeps.pay_dividends(db, PROGRAMME, currency=currency, now=T0 + YEAR) == 1

    assert clock.issue_reward_codes(db, now=T0 + YEAR, runtime=runtime) == codes.Issued(1, 0)

    [request] = shopify.received
    gets = request.json()["variables"]["basicCodeDiscount"]["customerGets"]
    assert gets["value"] == {"discountAmount": {"amount": "12.34", "appliesOnEachItem": False}}
    query = select(EVENTS.c.payload).where(EVENTS.c.type == "reward.unlocked")
    [told] = [row.payload["data"] for row in db.execute(query)]
    assert (told["reward"], told["title"], told["value"]) == (
        "dividend",
        "Your member dividend",
        "12.34",
    )
    assert told["code"] in shopify.created
