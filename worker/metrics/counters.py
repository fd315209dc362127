"""What each process counts as it happens: webhooks answered, provider requests, deliveries
decided, whether this clock leads. One label lookup and an add each: the delivery path runs
hundreds a second.

In a Dramatiq worker with WORKER_METRICS the values live in files under Dramatiq's
multiprocess folder (`queue/broker.py` names it before this module is imported), which
Dramatiq's exporter sums over the worker processes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter(
    "ladder_webhooks",
    "Webhooks answered, by platform, outcome (accepted, refused) and reason.",
    ["platform", "outcome", "reason"],
)
# What each refusal means to an operator; a status not named here is counted by its number.
REFUSALS = {
    400: "malformed",
    401: "signature",
    404: "unknown_platform",
    413: "too_large",
    422: "invalid",
    503: "no_secret",
}

PROVIDER_REQUESTS = Histogram(
    "ladder_provider_request_seconds",
    "Time in the provider's send (a rate limiter's wait included), by provider and outcome.",
    ["provider", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

DELIVERIES_DECIDED = Counter(
    "ladder_deliveries_decided",
    "Deliveries moved out of sending, by the status they were given.",
    ["status"],
)

CLOCK_LEADING = Gauge(
    "ladder_clock_leading",
    "1 while this clock process holds the leader lease, 0 while it idles.",
    multiprocess_mode="livemax",
)


def webhook_answered(platform: str, status: int, reason: str | None = None) -> None:
    """Counts one answer to `POST /webhooks/{platform}`; `reason` names an accepted one's kind
    (stored, duplicate, spooled, ping). `platform` must be a known one: the labels stay few."""
    if status < 400:
        WEBHOOKS.labels(platform, "accepted", reason or "stored").inc()
    else:
        WEBHOOKS.labels(platform, "refused", REFUSALS.get(status, str(status))).inc()


def provider_outcome(*, permanent: bool, paused: bool, limited: bool) -> str:
    """A refusal's outcome label, from the DeliveryError's flags."""
    if limited:
        return "rate_limited"
    if paused:
        return "credentials_refused"
    return "permanent" if permanent else "transient"
