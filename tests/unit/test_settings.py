"""Settings: database URLs normalised, unsafe deployments refused by the variable's name."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from worker.settings import BrokerKind, EmailBackend, Settings

SECRET = "k" * 32
TOKEN = "t" * 24
POSTGRES = "postgresql+psycopg://ladder:pw@db.internal:5432/ladder"
# A real shop's identity, which a deployment must set instead of the demo's.
SHOP = {
    "shop_name": "Teahouse Leith",
    "sender": "hello@teahouse-leith.co.uk",
    "postal_address": "2 Harbour Road, Leith EH6 6LL",
    "public_url": "https://ladder.teahouse-leith.co.uk",
    "shop_url": "https://teahouse-leith.co.uk",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable from this shell or from tests/conftest.py may decide these tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://ladder:pw@db.internal:5432/ladder",
        "postgresql://ladder:pw@db.internal:5432/ladder",
        POSTGRES,
    ],
)
def test_postgres_urls_are_normalised_to_the_psycopg_driver(url: str) -> None:
    configured = settings(
        database_url=url, ladder_secret_key=SECRET, ladder_api_token=TOKEN, **SHOP
    )
    assert configured.database_url == POSTGRES
    assert configured.is_production


def test_the_defaults_run_the_embedded_mode_with_nothing_set() -> None:
    configured = settings()
    assert configured.database_url == "sqlite:///var/ladder.db"
    assert configured.email_backend is EmailBackend.FILE
    assert not configured.is_production
    assert configured.secret_key() == b"ladder-embedded-development-key-not-for-production"


def test_postgresql_without_a_secret_key_is_refused_naming_ladder_secret_key() -> None:
    with pytest.raises(ValidationError, match="LADDER_SECRET_KEY must be set") as caught:
        settings(database_url=POSTGRES, ladder_api_token=TOKEN)
    assert "LADDER_API_TOKEN" not in str(caught.value)


def test_redis_without_secrets_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(redis_url="redis://localhost:6379/0")
    assert "LADDER_SECRET_KEY must be set to 32" in str(caught.value)
    assert "LADDER_API_TOKEN must be set to 24" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("amqp://guest:guest@rabbit.internal:5672/%2F", BrokerKind.RABBITMQ),
        ("amqps://ladder:pw@rabbit.internal:5671/ladder", BrokerKind.RABBITMQ),
        ("redis://redis.internal:6379/0", BrokerKind.REDIS),
        ("rediss://redis.internal:6380/0", BrokerKind.REDIS),
        ("unix:///run/redis/redis.sock", BrokerKind.REDIS),
    ],
)
def test_the_broker_url_s_scheme_chooses_the_broker(url: str, kind: BrokerKind) -> None:
    configured = settings(broker_url=url, ladder_env="development")
    assert (configured.broker_kind, configured.broker_address) == (kind, url)


@pytest.mark.parametrize(
    "url", ["http://rabbit.internal:15672", "rabbit.internal:5672", "kafka://x"]
)
def test_a_broker_url_of_no_broker_is_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(ValidationError, match="BROKER_URL must start with amqp://"):
        settings(broker_url=url, ladder_env="development")


def test_redis_url_alone_keeps_choosing_redis_and_nothing_the_in_process_broker() -> None:
    given = settings(redis_url="redis://redis.internal:6379/0", ladder_env="development")
    assert (given.broker_kind, given.broker_address) == (
        BrokerKind.REDIS,
        "redis://redis.internal:6379/0",
    )
    assert (settings().broker_kind, settings().broker_address) == (None, None)


def test_the_rate_limits_share_redis_url_or_a_redis_broker_and_else_none() -> None:
    rabbit = "amqp://guest:guest@rabbit.internal:5672/%2F"
    redis = "redis://redis.internal:6379/0"
    dev = {"ladder_env": "development"}
    assert settings(broker_url=rabbit, **dev).shared_redis_url is None
    both = settings(broker_url=rabbit, redis_url=redis, **dev)
    assert (both.broker_kind, both.shared_redis_url) == (BrokerKind.RABBITMQ, redis)
    assert settings(broker_url=redis, **dev).shared_redis_url == redis


def test_a_rabbitmq_deployment_without_secrets_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(broker_url="amqp://guest:guest@localhost:5672/%2F")
    assert "LADDER_SECRET_KEY must be set to 32" in str(caught.value)
    assert "LADDER_API_TOKEN must be set to 24" in str(caught.value)


def test_a_short_secret_key_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="LADDER_SECRET_KEY"):
        settings(database_url=POSTGRES, ladder_secret_key="short", ladder_api_token=TOKEN)


@pytest.mark.parametrize(
    "deployment", [{"database_url": POSTGRES}, {"redis_url": "redis://cache:6379/0"}]
)
def test_a_deployment_with_the_demos_identity_is_refused_naming_each_variable(
    deployment: dict[str, str],
) -> None:
    """Emails once went out as "Ladder Demo Shop <hello@shop.example>", with the demo's postal
    address and localhost unsubscribe links, from a PostgreSQL and Redis deployment."""
    with pytest.raises(ValidationError) as caught:
        settings(ladder_secret_key=SECRET, ladder_api_token=TOKEN, **deployment)
    for name in ("SHOP_NAME", "SENDER", "POSTAL_ADDRESS", "PUBLIC_URL", "SHOP_URL"):
        assert f"- {name} " in str(caught.value)
    for name in SHOP:
        with pytest.raises(ValidationError, match=name.upper()):
            settings(
                ladder_secret_key=SECRET,
                ladder_api_token=TOKEN,
                **deployment,
                **{**SHOP, name: settings().model_dump()[name]},
            )


def test_the_demos_identity_is_fine_on_a_laptop_and_in_an_explicit_development_setup() -> None:
    assert settings().shop_name == "Ladder Demo Shop"
    configured = settings(database_url=POSTGRES, ladder_env="development")
    assert not configured.is_production
    assert configured.sender == "hello@shop.example"


def test_ladder_env_production_checks_a_sqlite_deployment_too() -> None:
    with pytest.raises(ValidationError, match="SHOP_NAME"):
        settings(ladder_env="production", ladder_secret_key=SECRET, ladder_api_token=TOKEN)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("public_url", "ftp://x"),
        ("public_url", "ladder.example.com"),
        ("shop_url", "https://"),
        ("default_timezone", "Mars/Olympus"),
        ("default_timezone", ""),
    ],
)
def test_addresses_and_time_zones_that_are_not_are_refused_naming_the_variable(
    name: str, value: str
) -> None:
    with pytest.raises(ValidationError, match=name.upper()):
        settings(**{name: value})


def test_the_secret_key_read_from_the_environment_signs_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://ladder@db/ladder")
    monkeypatch.setenv("LADDER_SECRET_KEY", SECRET)
    monkeypatch.setenv("LADDER_API_TOKEN", TOKEN)
    configured = settings(**SHOP)
    assert configured.database_url == "postgresql+psycopg://ladder@db/ladder"
    assert configured.secret_key() == SECRET.encode()


@pytest.mark.parametrize("database_url", [POSTGRES, "sqlite:///var/ladder.db"])
def test_the_sendgrid_backend_without_an_api_key_is_refused(database_url: str) -> None:
    with pytest.raises(ValidationError, match="SENDGRID_API_KEY must be set"):
        settings(
            database_url=database_url,
            email_backend="sendgrid",
            ladder_secret_key=SECRET,
            ladder_api_token=TOKEN,
        )


def test_the_sendgrid_backend_with_an_api_key_is_accepted() -> None:
    configured = settings(
        database_url=POSTGRES,
        email_backend="sendgrid",
        sendgrid_api_key="SG.key",
        ladder_secret_key=SECRET,
        ladder_api_token=TOKEN,
        **SHOP,
    )
    assert configured.email_backend is EmailBackend.SENDGRID
    assert configured.sendgrid_api_key is not None
    assert configured.sendgrid_api_key.get_secret_value() == "SG.key"
    assert "SG.key" not in repr(configured)


# sendgrid-python's published test key (tests/fixtures/sendgrid/event_webhook_test_vectors.json).
WEBHOOK_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
    "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)


def test_the_event_webhook_key_is_checked_when_settings_load() -> None:
    assert settings(
        sendgrid_webhook_public_key=f" {WEBHOOK_KEY}\n"
    ).sendgrid_webhook_public_key == (WEBHOOK_KEY)
    with pytest.raises(ValidationError, match="SENDGRID_WEBHOOK_PUBLIC_KEY must be the base64"):
        settings(sendgrid_webhook_public_key="not-a-key")


def test_each_message_class_has_its_own_sendgrid_group() -> None:
    configured = settings(sendgrid_group_marketing=10, sendgrid_group_transactional=11)
    assert [configured.sendgrid_group(c) for c in ("marketing", "transactional")] == [10, 11]
    assert settings().sendgrid_group("marketing") is None


def test_quiet_hours_and_the_budget_default_to_daytime_and_one_a_day_two_a_week() -> None:
    defaults = settings()
    assert str(defaults.window) == "09:00-20:00"
    assert [(rule.limit, rule.window.days) for rule in defaults.budget.rules] == [(1, 1), (2, 7)]
    assert settings(send_window="").window is None
    assert settings(marketing_per_day=0, marketing_per_week=0).budget.rules == ()


def test_a_send_window_that_is_not_one_is_refused_naming_the_format() -> None:
    with pytest.raises(ValidationError, match=r"not a send window: write e\.g\. '09:00-20:00'"):
        settings(send_window="9 to 5")


def test_exchange_rates_are_read_as_worth_in_the_shop_currency() -> None:
    settings = Settings(exchange_rates="USD=0.92, JPY=0.0061")
    assert settings.rates == {"USD": Decimal("0.92"), "JPY": Decimal("0.0061")}
    assert Settings().rates == {}


@pytest.mark.parametrize("rates", ["USD:0.92", "usd=0.92", "JPY=0", "JPY=-1", "JPY=abc"])
def test_a_malformed_exchange_rate_is_refused_naming_the_variable(rates: str) -> None:
    with pytest.raises(ValidationError, match="EXCHANGE_RATES"):
        Settings(exchange_rates=rates)


def test_a_platform_api_address_must_be_https_but_for_a_stand_in_on_this_machine() -> None:
    with pytest.raises(ValidationError) as raised:
        settings(woocommerce_url="http://shop.example")
    assert "WOOCOMMERCE_URL must be an https:// address (http:// only for localhost)" in str(
        raised.value
    )
    assert (
        settings(woocommerce_url="https://shop.example/").woocommerce_url == "https://shop.example"
    )
    local = "http://127.0.0.1:8080/admin/api/2026-01/graphql.json"
    assert settings(shopify_admin_url=local).shopify_admin_url == local


def test_a_postmark_backend_without_a_server_token_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="POSTMARK_SERVER_TOKEN must be set"):
        Settings(email_backend=EmailBackend.POSTMARK)


def test_postmark_webhook_credentials_come_as_a_pair() -> None:
    with pytest.raises(ValidationError, match="POSTMARK_WEBHOOK_USERNAME and POSTMARK_WEBHOOK"):
        Settings(postmark_webhook_username="postmark")


def test_the_postmark_host_must_be_https_but_for_a_local_stand_in() -> None:
    with pytest.raises(ValidationError, match="POSTMARK_API_HOST must be an https:// address"):
        Settings(postmark_api_host="http://api.postmarkapp.com")
    assert Settings(postmark_api_host="http://127.0.0.1:8025").postmark_api_host == (
        "http://127.0.0.1:8025"
    )


def test_marketing_takes_the_broadcast_stream_and_the_claim_timeout_postmarks() -> None:
    settings = Settings(
        email_backend=EmailBackend.POSTMARK,
        postmark_server_token="token",
        postmark_timeout_s=20,
        postmark_stream_marketing="news",
    )

    assert (settings.postmark_stream("marketing"), settings.postmark_stream("transactional")) == (
        "news",
        "outbound",
    )
    assert settings.claim_timeout == 70.0
