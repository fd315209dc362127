"""Reward codes created through the platforms' APIs (against local stand-ins that check each
request as the platform documents it), never twice whatever the platform does, and redeemed
through the platforms' own order webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select
from sqlmodel import Session

from models.tables import EVENTS, LOYALTY_REWARDS
from tests.support.brokers import drain
from tests.support.shop_standins import (
    SHOPIFY_TOKEN,
    SHOPIFY_VERSION,
    WOO_KEY,
    WOO_SECRET,
    Shop,
    standin,
)
from tests.support.web import TestClient
from tests.support.webhooks import (
    shopify_headers,
    shopify_payload,
    with_secrets,
    woo_headers,
    woo_order,
)
from triggers.programme import Programme, load_programme_file
from worker import current_time
from worker.loyalty import codes, rewards
from worker.loyalty.codes import CodeRequest, IssueError
from worker.queue import clock
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT
from worker.sources.shopify_discounts import ShopifyDiscounts
from worker.sources.woocommerce_coupons import WooCommerceCoupons
from worker.web import create_app

pytestmark = pytest.mark.usefixtures("usd_shop")
T0 = datetime(2022, 1, 1, 0, 0, 30, tzinfo=UTC)
MONEY_BACK = PROJECT_ROOT / "triggers" / "programmes" / "money_back.toml"


@pytest.fixture(autouse=True)
def shops(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, tuple[str, Shop]]]:
    """Both stand-ins running, and the shop configured for them (before `runtime`)."""
    with standin("shopify") as shopify, standin("woocommerce") as woo:
        monkeypatch.setenv("LOYALTY_PROGRAMME", "money-back")
        monkeypatch.setenv(
            "SHOPIFY_ADMIN_URL", f"{shopify[0]}/admin/api/{SHOPIFY_VERSION}/graphql.json"
        )
        monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", SHOPIFY_TOKEN)
        monkeypatch.setenv("WOOCOMMERCE_URL", woo[0])
        monkeypatch.setenv("WOOCOMMERCE_KEY", WOO_KEY)
        monkeypatch.setenv("WOOCOMMERCE_SECRET", WOO_SECRET)
        monkeypatch.setenv("PLATFORM_TIMEOUT_S", "2")
        yield {"shopify": shopify, "woocommerce": woo}


@pytest.fixture
def client(runtime: Runtime, stub_broker: StubBroker) -> Iterator[TestClient]:  # noqa: ARG001
    current_time.freeze(T0)
    with TestClient(create_app(with_secrets(runtime.settings))) as client:
        yield client


def post(client: TestClient, platform: str, topic: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    if platform == "shopify":
        headers = shopify_headers(topic, body, webhook_id=f"wh-{topic}-{payload['id']}")
    else:
        headers = woo_headers(topic, body)
    response = client.post(f"/webhooks/{platform}", content=body, headers=headers)
    assert response.status_code == 200, response.text


def shopify_order(
    topic: str, *, order_id: int, total: str, codes: tuple[str, ...] = ()
) -> dict[str, Any]:
    payload = shopify_payload(topic)
    payload.update(id=order_id, total_price=total, total_price_set=None)
    payload["discount_codes"] = [
        {"code": code, "amount": "5.00", "type": "fixed_amount"} for code in codes
    ]
    return payload


def shown(db: Session) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (row.reward, row.state, row.code, row.issue_error)
        for row in reversed(rewards.rewards_of(db))
    ]


def own_events(db: Session, event_type: str) -> list[dict[str, Any]]:
    query = select(EVENTS.c.payload).where(EVENTS.c.type == event_type).order_by(EVENTS.c.id)
    return [row.payload["data"] for row in db.execute(query)]


def issue(db: Session, runtime: Runtime, at: datetime = T0) -> codes.Issued:
    return clock.issue_reward_codes(db, now=at, runtime=runtime)


def test_money_back_codes_are_created_in_shopify_and_redeemed_by_its_order_webhook(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    shops: dict[str, tuple[str, Shop]],
) -> None:
    shop = shops["shopify"][1]
    post(client, "shopify", "orders/paid", shopify_order("orders/paid", order_id=1, total="80.00"))
    drain(stub_broker)
    assert shown(db) == [("five-back", "unlocked", None, None)] * 2  # 80 spent: twice 35

    assert issue(db, runtime) == codes.Issued(created=2, waiting=0)

    [first, second] = shown(db)
    assert sorted(shop.created) == sorted([str(first[2]), str(second[2])])
    request = shop.received[0]
    assert request.headers["x-shopify-access-token"] == SHOPIFY_TOKEN
    sent = request.json()
    assert "discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount)" in sent["query"]
    [reward_row] = db.execute(select(LOYALTY_REWARDS).order_by(LOYALTY_REWARDS.c.id).limit(1))
    assert sent["variables"] == {
        "basicCodeDiscount": {
            "title": f"Ladder reward: 5 euros back ({first[2]})",
            "code": first[2],
            "startsAt": reward_row.created_at.isoformat(),
            "endsAt": reward_row.expires_at.isoformat(),
            "context": {"all": "ALL"},
            "usageLimit": 1,
            "appliesOncePerCustomer": True,
            "customerGets": {
                "value": {"discountAmount": {"amount": "5", "appliesOnEachItem": False}},
                "items": {"all": True},
            },
        }
    }
    assert [event["code"] for event in own_events(db, "reward.unlocked")] == [first[2], second[2]]

    used = (str(first[2]).lower(),)
    db.commit()  # the web process writes next: no read of ours holds SQLite's lock
    post(
        client,
        "shopify",
        "orders/create",
        shopify_order("orders/create", order_id=2, total="20.00", codes=used),
    )
    drain(stub_broker)

    assert shown(db) == [("five-back", "redeemed", first[2], None), second]
    assert own_events(db, "reward.redeemed") == [
        {"reward": "five-back", "code": first[2], "order_id": "2"}
    ]


def unlocked_two(client: TestClient, stub_broker: StubBroker) -> None:
    post(client, "shopify", "orders/paid", shopify_order("orders/paid", order_id=1, total="70.00"))
    drain(stub_broker)


def test_a_shopify_that_is_away_leaves_the_rewards_unlocked_and_they_get_one_code_later(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    shops: dict[str, tuple[str, Shop]],
) -> None:
    shop = shops["shopify"][1]
    unlocked_two(client, stub_broker)
    shop.next = ["away", "throttle"]

    assert issue(db, runtime) == codes.Issued(created=0, waiting=2)
    assert shown(db) == [
        ("five-back", "unlocked", None, "away: Shopify answered 503"),
        ("five-back", "unlocked", None, "away: Shopify: Throttled"),
    ]
    assert own_events(db, "reward.unlocked") == []

    assert issue(db, runtime, T0 + timedelta(minutes=1)) == codes.Issued(created=2, waiting=0)
    assert issue(db, runtime, T0 + timedelta(minutes=2)) == codes.Issued()
    assert [row[1:] for row in shown(db)] == [
        ("unlocked", code, None) for code in sorted(shop.created, key=list(shop.created).index)
    ]
    assert len(shop.created) == 2 and len(own_events(db, "reward.unlocked")) == 2


def test_a_lost_answer_is_not_a_second_code_the_retry_finds_the_first(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    shops: dict[str, tuple[str, Shop]],
) -> None:
    shop = shops["shopify"][1]
    unlocked_two(client, stub_broker)
    shop.next = ["lose"]  # the first code is made, but the answer is a 502

    assert issue(db, runtime) == codes.Issued(created=1, waiting=1)
    assert issue(db, runtime) == codes.Issued(created=1, waiting=0)  # "TAKEN": it was made

    made = [str(row[2]) for row in shown(db)]
    assert sorted(shop.created) == sorted(made)  # two rewards, two codes in the shop, no more
    answers = [
        request.json()["variables"]["basicCodeDiscount"]["code"] for request in shop.received
    ]
    assert answers == [made[0], made[1], made[0]]


def test_a_refused_token_is_recorded_and_the_reward_keeps_waiting(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    shops: dict[str, tuple[str, Shop]],
) -> None:
    unlocked_two(client, stub_broker)
    url = f"{shops['shopify'][0]}/admin/api/{SHOPIFY_VERSION}/graphql.json"
    wrong = ShopifyDiscounts(url, "shpat_revoked", timeout_s=2)
    programme = runtime.programme
    assert programme is not None

    found = codes.issue_through_platforms(
        db, programme, {"shopify": wrong}, secret=b"k", currency="USD", now=T0
    )

    assert found == codes.Issued(created=0, waiting=2)
    assert shown(db) == [("five-back", "unlocked", None, "refused: Shopify answered 401")] * 2


def request_for(programme: Programme, name: str, code: str) -> CodeRequest:
    reward = programme.named_reward(name)
    assert reward is not None
    return CodeRequest(
        code=code,
        reward=reward,
        currency="EUR",
        starts_at=T0,
        expires_at=T0 + timedelta(days=30),
        email="ana@example.com",
    )


def kinds_programme(tmp_path: Path, codes_from: str) -> Programme:
    """One reward of each kind, its codes from `codes_from`."""
    path = tmp_path / "kinds.toml"
    path.write_text(
        f"""name = "kinds"
[[reward]]
name = "pct"
kind = "percent_off"
value = 15
points = 100
codes = "{codes_from}"
[[reward]]
name = "ship"
kind = "free_shipping"
points = 200
codes = "{codes_from}"
[[reward]]
name = "mug"
kind = "free_product"
value = 12.5
product = "7001"
points = 300
codes = "{codes_from}"
""",
        encoding="utf-8",
    )
    return load_programme_file(path)


def test_every_kind_of_reward_is_a_request_shopify_takes(
    tmp_path: Path, shops: dict[str, tuple[str, Shop]]
) -> None:
    base, shop = shops["shopify"]
    issuer = ShopifyDiscounts(
        f"{base}/admin/api/{SHOPIFY_VERSION}/graphql.json", SHOPIFY_TOKEN, timeout_s=2
    )
    programme = kinds_programme(tmp_path, "shopify")

    for name in ("pct", "ship", "mug"):
        issuer.create(request_for(programme, name, f"LDR-{name.upper()}"))

    made = shop.created
    assert made["LDR-PCT"]["customerGets"]["value"] == {"percentage": 0.15}
    assert made["LDR-SHIP"]["destination"] == {"all": True}
    assert "discountCodeFreeShippingCreate" in shop.received[1].json()["query"]
    assert made["LDR-MUG"]["customerGets"] == {
        "value": {"discountAmount": {"amount": "12.5", "appliesOnEachItem": False}},
        "items": {"products": {"productsToAdd": ["gid://shopify/Product/7001"]}},
    }
    with pytest.raises(IssueError) as raised:
        issuer.create(request_for(programme, "pct", "ldr-pct"))
    assert raised.value.taken
    assert str(raised.value) == "Shopify: Code must be unique. Please try a different code."


def test_woocommerce_coupons_are_created_with_basic_auth_and_redeemed_by_its_order_webhook(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    stub_broker: StubBroker,
    tmp_path: Path,
    shops: dict[str, tuple[str, Shop]],
) -> None:
    shop = shops["woocommerce"][1]
    issuer = WooCommerceCoupons.from_settings(runtime.settings)
    assert issuer is not None
    programme = kinds_programme(tmp_path, "woocommerce")
    post(client, "woocommerce", "order.created", woo_order())  # John, a customer now
    drain(stub_broker)
    [john] = db.execute(select(EVENTS.c.customer_id).limit(1)).scalars()
    reward = programme.named_reward("pct")
    assert reward is not None
    rewards.record(db, reward, customer_id=john, cause="test:1", now=T0)
    db.commit()

    found = codes.issue_through_platforms(
        db, programme, {"woocommerce": issuer}, secret=b"k", currency="USD", now=T0
    )

    assert found == codes.Issued(created=1)
    [(_, _, code, _)] = shown(db)
    request = shop.received[0]
    assert request.headers["authorization"].startswith("Basic ")
    assert request.json() == {
        "code": code,
        "description": "Ladder reward: pct",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "email_restrictions": ["john.doe@example.com"],
        "date_expires_gmt": "2022-04-01T00:00:30",
        "discount_type": "percent",
        "amount": "15",
    }
    assert list(shop.created) == [str(code).lower()]  # WooCommerce keeps codes lower-case

    order = woo_order()
    order.update(id=728, date_modified_gmt="2017-03-23T10:00:00")
    order["coupon_lines"] = [{"id": 9, "code": str(code).lower(), "discount": "4.40"}]
    db.commit()
    post(client, "woocommerce", "order.updated", order)
    drain(stub_broker)

    # Redeemed; and John's second order brings his spend to 58.70: five back for the first 35.
    assert shown(db) == [("pct", "redeemed", code, None), ("five-back", "unlocked", None, None)]
    with pytest.raises(IssueError) as raised:
        issuer.create(request_for(programme, "pct", str(code)))
    assert raised.value.taken
    assert str(raised.value) == (
        "WooCommerce answered 400: woocommerce_rest_coupon_code_already_exists:"
        " The coupon code already exists"
    )
