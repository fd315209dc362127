"""Settings: the only code that reads the environment."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import EmailStr, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.limits import Budget, SendWindow, parse_window

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What a live worker may spend holding a claim besides the provider's request: 60 s in all
# with SendGrid's default timeout, where 600 s once made a dead worker's emails wait.
CLAIM_MARGIN_S = 50.0


class EmailBackend(StrEnum):
    FILE = "file"
    CONSOLE = "console"
    SENDGRID = "sendgrid"
    SMTP = "smtp"
    POSTMARK = "postmark"


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # port 587: plain, then upgraded before anything is said
    TLS = "tls"  # port 465: TLS from the first byte
    NONE = "none"  # a relay on this host or a private network, with no credentials


class BrokerKind(StrEnum):
    REDIS = "redis"
    RABBITMQ = "rabbitmq"


# What each scheme of BROKER_URL selects.
BROKER_SCHEMES = {
    "redis": BrokerKind.REDIS,
    "rediss": BrokerKind.REDIS,
    "unix": BrokerKind.REDIS,
    "amqp": BrokerKind.RABBITMQ,
    "amqps": BrokerKind.RABBITMQ,
}


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


# What the embedded demo sends as: a deployment must say who it is instead.
DEMO_IDENTITY = {
    "shop_name": "Ladder Demo Shop",
    "sender": "hello@shop.example",
    "postal_address": "1 Market Street, Springfield",
    "public_url": "http://localhost:8000",
    "shop_url": "https://shop.example",
}
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


class Settings(BaseSettings):
    """Everything an operator can set. Defaults run the embedded mode with nothing set."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/ladder.db"
    # The broker by its scheme: amqp(s):// RabbitMQ, redis(s):// or unix:// Redis. Unset:
    # REDIS_URL's Redis, and with neither the in-process broker (embedded mode).
    broker_url: str | None = None
    # Redis: the broker when BROKER_URL is unset; the shared rate limits' counters in any case.
    redis_url: str | None = None
    # A broker call (connect, or a reply) that takes longer fails: the relay resends its rows.
    redis_timeout_s: float = Field(default=2.0, gt=0)
    email_backend: EmailBackend = EmailBackend.FILE
    outbox_dir: Path = Path("var/outbox")
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_timeout_s: float = 10.0
    sendgrid_sandbox_mode: bool = False  # SendGrid validates but delivers nothing
    sendgrid_reply_to: EmailStr | None = None
    # SendGrid unsubscribe groups (ASM), by message class; unset: no group on the message.
    sendgrid_group_marketing: int | None = None
    sendgrid_group_transactional: int | None = None
    # Mail Send requests per second, shared through Redis (`shared_redis_url`) if there is one.
    sendgrid_requests_per_s: int | None = Field(default=None, gt=0)
    # Requests to the provider open at once in each worker process (`delivery/inflight.py`):
    # enough to hide a round trip of tens of milliseconds.
    delivery_in_flight: int = Field(default=32, ge=1, le=256)
    # Event Webhook: the verification key (base64 DER, from Mail Settings) and the oldest
    # timestamp accepted, against replays.
    sendgrid_webhook_public_key: str | None = None
    sendgrid_webhook_max_age_s: float = Field(default=600.0, gt=0)
    # EMAIL_BACKEND=smtp: any provider's SMTP relay, or the shop's own server.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    # A private CA (a shop's own server with its own certificate); unset: the system's.
    smtp_ca_file: Path | None = None
    # Messages per second, shared through Redis (`shared_redis_url`) if there is one.
    smtp_messages_per_s: int | None = Field(default=None, gt=0)
    # EMAIL_BACKEND=postmark: a server's API token; POSTMARK_API_HOST replaces the endpoint
    # (a stand-in). Marketing goes out on a Broadcast message stream, the rest on the
    # Transactional one, as Postmark requires: each stream's ID as created in Postmark.
    postmark_server_token: SecretStr | None = None
    postmark_api_host: str = "https://api.postmarkapp.com"
    postmark_timeout_s: float = Field(default=10.0, gt=0)
    postmark_stream_transactional: str = Field(default="outbound", min_length=1)
    postmark_stream_marketing: str = Field(default="broadcast", min_length=1)
    # Requests per second, shared by every worker process (in Redis when REDIS_URL).
    postmark_requests_per_s: int | None = Field(default=None, gt=0)
    # The webhooks' HTTP Basic credentials, as set on the webhook in Postmark (its HTTP Auth,
    # or user:password@ in its URL); unset: Postmark's records are refused.
    postmark_webhook_username: str | None = None
    postmark_webhook_password: SecretStr | None = None
    # After a 401/403 sending pauses; the next delivery after this long probes again.
    sending_pause_probe_s: float = Field(default=300.0, gt=0)
    ladder_api_token: SecretStr | None = None
    ladder_secret_key: SecretStr | None = None
    # Unset: production when PostgreSQL or Redis is configured (the checks below), else a
    # laptop. `development` runs a PostgreSQL/Redis setup with the demo's identity (tests).
    ladder_env: Environment | None = None
    public_url: str = DEMO_IDENTITY["public_url"]

    shop_name: str = DEMO_IDENTITY["shop_name"]
    sender: EmailStr = DEMO_IDENTITY["sender"]
    postal_address: str = DEMO_IDENTITY["postal_address"]
    default_locale: str = "en"
    # Where the shop's own alerts go (triggers with `to = "shop"`: a detractor's answer…), in
    # DEFAULT_LOCALE. Unset: such alerts are skipped, saying so.
    shop_alerts_to: EmailStr | None = None
    default_timezone: str = "UTC"
    default_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # What one unit of another currency is worth in DEFAULT_CURRENCY, for orders that come
    # with no shop-currency amount: "USD=0.92,JPY=0.0061". A currency not listed is refused.
    exchange_rates: str = ""
    shop_url: str = DEMO_IDENTITY[
        "shop_url"
    ]  # links in emails; products at {shop_url}/products/{id}
    # Where a happy customer can review the shop (`shop.review_url`; unset: SHOP_URL).
    review_url: str | None = None
    recommendations_count: int = Field(default=3, ge=0, le=12)
    # How far ahead `customer.predicted_orders` and `customer.clv` look (the CLV models).
    clv_horizon_days: int = Field(default=365, ge=7, le=3650)

    templates_dir: Path = PROJECT_ROOT / "templates"
    triggers_dir: Path = PROJECT_ROOT / "triggers"
    # The measurement's own files: abc.toml (the ABC classes' weights), acquisition.toml (CAC),
    # rungs.toml (the ladder; none: no ladder kept), goals.toml (migration goals).
    measurement_dir: Path = PROJECT_ROOT / "measurement"
    broadcasts_dir: Path | None = None  # unset: `broadcasts/` in the triggers folder
    series_dir: Path | None = None  # unset: `series/` in the triggers folder
    # The loyalty programme that runs: the `name` of a file in triggers/programmes/. Unset:
    # none, so a shop starts one by choice, never by an upgrade that ships an example.
    loyalty_programme: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    # Storefront origins whose pages may read a customer's widget JSON from the browser
    # ("https://shop.example,https://www.shop.example"). Unset: none (the shop's server can).
    loyalty_widget_origins: str = ""

    max_body_bytes: int = Field(default=2_000_000, gt=0)

    # Store platforms' webhook secrets, comma-separated: during a rotation both keep working.
    shopify_webhook_secrets: SecretStr | None = None
    # The one shop Ladder serves (`name.myshopify.com`): a delivery from any other is refused,
    # and a privacy request must name it. Unset: any shop whose deliveries carry the secret.
    shopify_shop_domain: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$"
    )
    woocommerce_webhook_secrets: SecretStr | None = None
    stripe_webhook_secrets: SecretStr | None = None
    # Loyalty reward codes created through the platforms' APIs (`codes = "shopify"` or
    # "woocommerce" in the programme file). Shopify: the shop and an Admin API access token
    # with the write_discounts scope; SHOPIFY_ADMIN_URL replaces the endpoint (a stand-in).
    shopify_shop: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
    shopify_admin_token: SecretStr | None = None
    shopify_api_version: str = Field(default="2026-01", pattern=r"^\d{4}-\d{2}$|^unstable$")
    shopify_admin_url: str | None = None
    # WooCommerce: the site's address and a REST API key with write access (ck_…, cs_…).
    woocommerce_url: str | None = None
    woocommerce_key: SecretStr | None = None
    woocommerce_secret: SecretStr | None = None
    platform_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_max_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    stripe_tolerance_s: int = Field(default=300, gt=0)  # older signed timestamps are replays
    # Which Stripe events count: live or test mode (unset: either), and a Connect account
    # (`acct_…`; unset: only the platform's own events, none carrying an `account`).
    stripe_livemode: bool | None = None
    stripe_account: str | None = Field(default=None, pattern=r"^acct_[A-Za-z0-9]{1,64}$")
    spool_dir: Path = Path("var/spool")  # deliveries accepted while the database was away
    exports_dir: Path = Path("var/exports")  # customers' data exports (privacy requests)
    # Prometheus (worker/metrics/): GET /metrics on web (a bearer when METRICS_TOKEN is set),
    # the clock's exporter on CLOCK_METRICS_PORT, Dramatiq's own middleware with WORKER_METRICS.
    metrics_token: SecretStr | None = None
    clock_metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    clock_metrics_host: str = "0.0.0.0"
    worker_metrics: bool = False  # serves on dramatiq_prom_host/dramatiq_prom_port (9191)

    clock_tick_s: float = Field(default=2.0, gt=0)
    # A row enqueued this long ago and still waiting is enqueued again (the outbox relay):
    # longer than a message may wait its turn in a backlog or an actor's retry back-off
    # (ARCHITECTURE.md, "How long recovery waits").
    requeue_after_s: float = Field(default=300.0, gt=0)
    # A row enqueued this long ago and still waiting, while its queue holds no message at all,
    # had its message taken by a worker that died or lost it: enqueued again without waiting
    # for `requeue_after_s` (a repeated message is harmless: every actor starts with a CAS).
    stranded_after_s: float = Field(default=30.0, gt=0)
    # A transient provider error (5xx, timeout, connection) puts the delivery back `scheduled`,
    # due again after a back-off doubling from the first value up to the second (with jitter);
    # the last allowed failure leaves it `failed` with the provider's reason.
    delivery_retry_min_s: float = Field(default=5.0, gt=0)
    delivery_retry_max_s: float = Field(default=600.0, gt=0)
    delivery_max_failures: int = Field(default=8, ge=1)
    # A delivery claimed this long ago and still `sending` belonged to a worker that stopped.
    # Unset: CLAIM_MARGIN_S plus the longest a SendGrid request may take (`claim_timeout`).
    claim_timeout_s: float | None = Field(default=None, gt=0)

    # Quiet hours: marketing goes out only inside this local window ("" for none).
    send_window: str = "09:00-20:00"
    # The frequency budget: marketing emails per customer per rolling day and week (0: no limit).
    marketing_per_day: int = Field(default=1, ge=0)
    marketing_per_week: int = Field(default=2, ge=0)
    # The global holdout: this share of customers (always the same ones) gets no marketing at
    # all, so `ladder report lift` can measure the whole programme against them.
    global_holdout: float = Field(default=0.0, ge=0.0, le=0.5)

    @field_validator("send_window")
    @classmethod
    def _check_send_window(cls, value: str) -> str:
        parse_window(value)  # raises ValueError naming the format
        return value

    @field_validator("exchange_rates")
    @classmethod
    def _check_exchange_rates(cls, value: str) -> str:
        parse_rates(value)  # raises ValueError naming the variable and the format
        return value

    @property
    def rates(self) -> dict[str, Decimal]:
        """EXCHANGE_RATES parsed: currency → its worth in DEFAULT_CURRENCY."""
        return parse_rates(self.exchange_rates)

    @property
    def broadcasts_folder(self) -> Path:
        """Where the broadcast files are: BROADCASTS_DIR, else beside the triggers."""
        return self.broadcasts_dir or self.triggers_dir / "broadcasts"

    @property
    def series_folder(self) -> Path:
        """Where the content series files are: SERIES_DIR, else beside the triggers."""
        return self.series_dir or self.triggers_dir / "series"

    @property
    def window(self) -> SendWindow | None:
        """The parsed `send_window`, None when quiet hours are off."""
        return parse_window(self.send_window)

    @property
    def claim_timeout(self) -> float:
        """Seconds after which a claim still `sending` is given up (`delivery.recovery`).

        A live worker holds a claim for its render (at most 2 s of its own time, see
        `rendering/bounds.py`), a few reads, a rate limiter's turn, then one request of at
        most the provider's timeout: CLAIM_MARGIN_S covers all but the request, with room.
        """
        if self.claim_timeout_s is not None:
            return self.claim_timeout_s
        if self.email_backend is EmailBackend.POSTMARK:
            return CLAIM_MARGIN_S + self.postmark_timeout_s
        return CLAIM_MARGIN_S + self.sendgrid_timeout_s

    @property
    def budget(self) -> Budget:
        return Budget.of(per_day=self.marketing_per_day, per_week=self.marketing_per_week)

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str | None) -> str | None:
        """Refuse at start a broker no code here speaks to, naming the variable."""
        if value is None or not value.strip():
            return None
        scheme = urlsplit(value.strip()).scheme.lower()
        if scheme not in BROKER_SCHEMES:
            raise ValueError(
                "BROKER_URL must start with amqp:// or amqps:// (RabbitMQ), or redis://, "
                f"rediss:// or unix:// (Redis), not {scheme + '://' if scheme else repr(value)}"
            )
        return value.strip()

    @property
    def broker_address(self) -> str | None:
        """The broker's URL: BROKER_URL, else REDIS_URL; None: the in-process broker."""
        return self.broker_url or self.redis_url

    @property
    def broker_kind(self) -> BrokerKind | None:
        """Which broker `broker_address` names; None: the in-process broker."""
        address = self.broker_address
        if address is None:
            return None
        return BROKER_SCHEMES.get(urlsplit(address).scheme.lower(), BrokerKind.REDIS)

    @property
    def shared_redis_url(self) -> str | None:
        """The Redis that every process shares for the rate limits: REDIS_URL, else a Redis
        BROKER_URL; None (RabbitMQ and no REDIS_URL): each process keeps its own."""
        if self.redis_url:
            return self.redis_url
        return self.broker_url if self.broker_kind is BrokerKind.REDIS else None

    @field_validator("shopify_shop_domain", mode="before")
    @classmethod
    def _lower_shop_domain(cls, value: object) -> object:
        return value.strip().lower() or None if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        """Accept the `postgres://` URLs hosts inject and use the psycopg 3 driver."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _check_webhook_key(cls, value: str | None) -> str | None:
        """Refuse at start a key every signed event would fail against, naming the variable."""
        if not value:
            return None
        try:
            key = load_der_public_key(base64.b64decode(value.strip(), validate=True))
        except ValueError as exc:
            raise ValueError(
                "SENDGRID_WEBHOOK_PUBLIC_KEY must be the base64 verification key from "
                "SendGrid's Mail Settings"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("SENDGRID_WEBHOOK_PUBLIC_KEY must be an elliptic-curve key")
        return value.strip()

    @field_validator("public_url", "shop_url", "review_url")
    @classmethod
    def _check_web_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Links in every email start here: an address no mail client opens is refused."""
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            name = (info.field_name or "").upper()
            raise ValueError(f"{name} must be an http:// or https:// address, not {value!r}")
        return value.strip().rstrip("/")

    @field_validator("shopify_admin_url", "woocommerce_url", "postmark_api_host")
    @classmethod
    def _check_platform_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        """HTTPS, but for this machine (a stand-in): the API keys travel with every request."""
        if value is None:
            return None
        parts = urlsplit(value)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            name = str(info.field_name).upper()
            raise ValueError(f"{name} must be an https:// address (http:// only for localhost)")
        return value.rstrip("/")

    @field_validator("default_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(
                f"DEFAULT_TIMEZONE must be an IANA time zone such as Europe/Berlin, not {value!r}"
            ) from None
        return value

    @property
    def is_production(self) -> bool:
        """PostgreSQL or a broker server means a shared deployment, not a laptop, unless
        LADDER_ENV says otherwise."""
        if self.ladder_env is not None:
            return self.ladder_env is Environment.PRODUCTION
        return self.database_url.startswith("postgresql") or self.broker_address is not None

    @model_validator(mode="after")
    def _refuse_a_sendgrid_backend_without_a_key(self) -> Self:
        # In any mode: found only at the first send, it would leave that delivery `sending`.
        if self.email_backend is EmailBackend.SENDGRID and self.sendgrid_api_key is None:
            raise ValueError("SENDGRID_API_KEY must be set when EMAIL_BACKEND=sendgrid")
        return self

    @model_validator(mode="after")
    def _refuse_a_postmark_backend_without_a_token(self) -> Self:
        if self.email_backend is EmailBackend.POSTMARK and self.postmark_server_token is None:
            raise ValueError("POSTMARK_SERVER_TOKEN must be set when EMAIL_BACKEND=postmark")
        if (self.postmark_webhook_username is None) != (self.postmark_webhook_password is None):
            raise ValueError(
                "set both POSTMARK_WEBHOOK_USERNAME and POSTMARK_WEBHOOK_PASSWORD, or neither"
            )
        return self

    @model_validator(mode="after")
    def _refuse_an_smtp_backend_without_a_safe_server(self) -> Self:
        if self.email_backend is not EmailBackend.SMTP:
            return self
        if not self.smtp_host:
            raise ValueError("SMTP_HOST must be set when EMAIL_BACKEND=smtp")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("set both SMTP_USERNAME and SMTP_PASSWORD, or neither")
        if self.smtp_username is not None and self.smtp_security is SmtpSecurity.NONE:
            raise ValueError(
                "SMTP_SECURITY=none would send SMTP_PASSWORD in the clear: use starttls or tls"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production_values(self) -> Self:
        if not self.is_production:
            return self
        problems = []
        secret = self.ladder_secret_key.get_secret_value() if self.ladder_secret_key else ""
        if len(secret) < 32:
            problems.append("LADDER_SECRET_KEY must be set to 32 or more random characters")
        token = self.ladder_api_token.get_secret_value() if self.ladder_api_token else ""
        if len(token) < 24:
            problems.append("LADDER_API_TOKEN must be set to 24 or more random characters")
        problems += self._demo_identity()
        if problems:
            raise ValueError(
                "unsafe settings for a deployment with PostgreSQL or a broker (LADDER_ENV="
                "development runs one as a test):" + "".join(f"\n  - {p}" for p in problems)
            )
        return self

    def _demo_identity(self) -> list[str]:
        """The demo's name, sender, address and links, which a real shop's customers must never
        get: one line per variable still set to them."""
        problems = [
            f"{name.upper()} is the demo's ({DEMO_IDENTITY[name]!r}): set your shop's"
            for name in ("shop_name", "postal_address", "shop_url")
            if getattr(self, name) == DEMO_IDENTITY[name]
        ]
        if str(self.sender).rpartition("@")[2].lower() in ("shop.example", "example.com"):
            problems.append(f"SENDER is an example address ({self.sender!r}): set your own")
        if (urlsplit(self.public_url).hostname or "") in _LOCAL_HOSTS:
            problems.append(
                f"PUBLIC_URL is {self.public_url!r}: set the address customers reach the web "
                "process at (unsubscribe links use it)"
            )
        return problems

    def sendgrid_group(self, message_class: str) -> int | None:
        """The SendGrid unsubscribe group (ASM id) configured for a message class, if any."""
        groups = {
            "marketing": self.sendgrid_group_marketing,
            "transactional": self.sendgrid_group_transactional,
        }
        return groups.get(message_class)

    def postmark_stream(self, message_class: str) -> str:
        """The Postmark message stream for a message class: Broadcast for marketing."""
        if message_class == "marketing":
            return self.postmark_stream_marketing
        return self.postmark_stream_transactional

    def webhook_secrets(self, platform: str) -> list[bytes]:
        """The platform's webhook secrets, newest first as configured; [] when none is set."""
        value: SecretStr | None = getattr(self, f"{platform}_webhook_secrets", None)
        if value is None:
            return []
        return [
            part.strip().encode() for part in value.get_secret_value().split(",") if part.strip()
        ]

    def loyalty_widget_origin_list(self) -> frozenset[str]:
        """LOYALTY_WIDGET_ORIGINS as origins (`https://shop.example`, no trailing slash)."""
        parts = self.loyalty_widget_origins.split(",")
        return frozenset(part.strip().rstrip("/") for part in parts if part.strip())

    def secret_key(self) -> bytes:
        """The key that signs unsubscribe, survey and loyalty links; a fixed dev key only in
        embedded mode."""
        if self.ladder_secret_key is not None:
            return self.ladder_secret_key.get_secret_value().encode()
        return b"ladder-embedded-development-key-not-for-production"


_RATE = re.compile(r"([A-Z]{3})=(\d+(?:\.\d+)?)")


def parse_rates(text: str) -> dict[str, Decimal]:
    """ "USD=0.92,JPY=0.0061" → {"USD": Decimal("0.92"), …}. Raises ValueError naming the
    variable for a malformed entry or a rate that is not positive."""
    rates: dict[str, Decimal] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        found = _RATE.fullmatch(entry.replace(" ", ""))
        if found is None or Decimal(found[2]) <= 0:
            raise ValueError(
                f"EXCHANGE_RATES: {entry!r} is not a rate: write e.g. 'USD=0.92,JPY=0.0061'"
                " (one unit of that currency in DEFAULT_CURRENCY)"
            )
        rates[found[1]] = Decimal(found[2])
    return rates


@lru_cache
def get_settings() -> Settings:
    return Settings()
