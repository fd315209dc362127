"""Outages: a steady stream of signed Shopify webhooks and `POST /events` while Redis hangs,
Redis is lost and restarted empty, PostgreSQL hangs, and the worker is killed, with hostile
bodies mixed in. Every webhook must be answered within Shopify's 5 s (it is counted late
past 2 s), none with a 5xx; `POST /events` may answer 503 with `Retry-After`, and the sender
then retries as told; nothing accepted may be lost or counted twice.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.progress import Progress
from sqlalchemy import func, select
from sqlmodel import col

from bench.fleet import Fleet, Postgres, Redis
from models import Customer, Event, InboxItem, Order
from models.db import session
from worker.settings import PROJECT_ROOT

SHOPIFY_SECRET = "chaos-shopify-secret"
SHOP = "chaos.myshopify.com"
TOKEN = "chaos-api-token-0123456789abcdef"
SAMPLE = PROJECT_ROOT / "tests" / "fixtures" / "shopify" / "orders_create.json"
ANSWER_WITHIN_S = 5.0  # Shopify's limit: a slower answer is a failed delivery
LATE_S = 2.0  # Ladder's promise
FAULT_S = 6.0  # how long each fault lasts
DRAINED_WITHIN_S = 180.0
# Values a fuzz once found answered 500: mixed into the stream, each must get a 4xx (or be
# stored and marked failed), never a 5xx.
HOSTILE: list[Any] = ["Ana\x00", "\ud800", float("nan"), "0001-01-01T00:00:00+01:00", 10**40]


@dataclass
class Stream:
    webhooks_accepted: set[int] = field(default_factory=set)  # order numbers answered 200
    events_accepted: set[int] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)  # "webhook 200", "events 503", …
    late: int = 0  # webhook answers after LATE_S
    late_at: list[float] = field(default_factory=list)  # when each late one was sent (monotonic)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)  # fault → start, end
    failed: int = 0  # 5xx other than a 503 with Retry-After, or no answer within 5 s
    hostile: int = 0


@dataclass(frozen=True)
class OutagesResult:
    webhooks: int
    events: int
    faults: list[str]
    stream: Stream
    lost: int
    duplicates: int
    drain_s: float


def shopify_body(number: int) -> bytes:
    order = json.loads(SAMPLE.read_text(encoding="utf-8"))["response"]
    email = f"chaos-{number}@example.com"
    order.update(id=10**9 + number, email=email, contact_email=email, order_number=number)
    order["customer"].update(id=10**9 + number, email=email)
    return json.dumps(order).encode()


def hostile_body(number: int) -> bytes:
    order = json.loads(shopify_body(number))
    value = HOSTILE[number % len(HOSTILE)]
    order["customer"]["first_name"] = value
    order["created_at"] = value if isinstance(value, str) else order["created_at"]
    return json.dumps(order, allow_nan=True).encode()


def shopify_headers(body: bytes, number: int) -> dict[str, str]:
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Webhook-Id": f"chaos-{number}",
        "X-Shopify-Shop-Domain": SHOP,
    }


def an_event(number: int) -> dict[str, Any]:
    return {
        "id": f"chaos-signup-{number}",
        "type": "customer.created",
        "occurred_at": datetime.now(UTC).isoformat(),
        "customer": {"email": f"chaos-signup-{number}@example.com", "accepts_marketing": True},
    }


async def _webhook(client: httpx.AsyncClient, number: int, stream: Stream) -> None:
    hostile = number % 25 == 24
    body = hostile_body(number) if hostile else shopify_body(number)
    started = time.monotonic()
    try:
        answer = await client.post(
            "/webhooks/shopify", content=body, headers=shopify_headers(body, number)
        )
    except httpx.HTTPError:
        stream.answers["webhook no answer"] += 1
        stream.failed += 1
        return
    stream.answers[f"webhook {answer.status_code}"] += 1
    if time.monotonic() - started > LATE_S:
        stream.late += 1
        stream.late_at.append(started)
    stream.hostile += hostile
    if answer.status_code >= 500:
        stream.failed += 1
    elif answer.status_code == 200 and not hostile:
        stream.webhooks_accepted.add(number)


async def _event(client: httpx.AsyncClient, number: int, stream: Stream) -> None:
    """One event, resent as a careful client would while the answer is 503 + Retry-After."""
    for _ in range(60):
        try:
            answer = await client.post("/events", json=an_event(number))
        except httpx.HTTPError:
            stream.answers["events no answer"] += 1
            stream.failed += 1
            return
        stream.answers[f"events {answer.status_code}"] += 1
        if answer.status_code == 202:
            stream.events_accepted.add(number)
            return
        retry_after = answer.headers.get("Retry-After")
        if answer.status_code != 503 or retry_after is None:
            stream.failed += answer.status_code >= 500
            return
        await asyncio.sleep(min(float(retry_after), 5.0))


async def _stream(
    url: str, *, rate: float, seconds: float, stream: Stream, tick: Callable[[float], None]
) -> None:
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
    timeout = httpx.Timeout(ANSWER_WITHIN_S)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=timeout, headers=headers
    ) as client:
        tasks: list[asyncio.Task[None]] = []
        started = time.monotonic()
        for number in range(int(rate * seconds)):
            due = started + number / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            send = _event if number % 10 == 9 else _webhook
            tasks.append(asyncio.create_task(send(client, number, stream)))
            tick(time.monotonic() - started)
        await asyncio.gather(*tasks)


def faults(redis: Redis, postgres: Postgres, fleet: Fleet) -> list[tuple[float, str, Any, Any]]:
    """(start, name, begin, end): each fault begins at its share of the stream, lasts FAULT_S."""
    return [
        (0.15, "Redis hung", redis.hang, redis.resume),
        (0.35, "Redis lost", redis.stop, redis.start),
        (0.55, "PostgreSQL hung", postgres.hang, postgres.resume),
        (0.75, "worker killed", lambda: fleet.kill("worker"), lambda: fleet.start("worker")),
    ]


async def _inject(
    plan: list[tuple[float, str, Any, Any]], seconds: float, done: list[str], stream: Stream
) -> None:
    started = time.monotonic()
    for share, name, begin, end in plan:
        await asyncio.sleep(max(0.0, started + share * seconds - time.monotonic()))
        began = time.monotonic()
        await asyncio.to_thread(begin)
        await asyncio.sleep(FAULT_S)
        await asyncio.to_thread(end)
        stream.windows[name] = (began, time.monotonic())
        done.append(name)


def run_outages(
    fleet: Fleet,
    redis: Redis,
    postgres: Postgres,
    *,
    rate: float,
    seconds: float,
    progress: Progress,
) -> OutagesResult:
    for kind in ("web", "worker", "clock"):
        fleet.start(kind)
    stream, done = Stream(), list[str]()
    task = progress.add_task("outages: stream", total=seconds)

    async def both() -> None:
        await asyncio.gather(
            _stream(
                fleet.url,
                rate=rate,
                seconds=seconds,
                stream=stream,
                tick=lambda at: progress.update(task, completed=at),
            ),
            _inject(faults(redis, postgres, fleet), seconds, done, stream),
        )

    asyncio.run(both())
    stopped = time.monotonic()
    drain = progress.add_task("outages: drain", total=len(stream.webhooks_accepted))
    deadline = stopped + DRAINED_WITHIN_S
    while True:
        fleet.check()
        counts = _landed(postgres.url, stream)
        progress.update(drain, completed=counts.orders)
        # Past the deadline what has not landed is counted lost.
        if counts.complete or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    drain_s = time.monotonic() - stopped
    fleet.stop()
    counts = _landed(postgres.url, stream)
    return OutagesResult(
        webhooks=sum(n for key, n in stream.answers.items() if key.startswith("webhook")),
        events=len(stream.events_accepted),
        faults=done,
        stream=stream,
        lost=counts.lost,
        duplicates=counts.duplicates,
        drain_s=drain_s,
    )


def late_by_fault(stream: Stream) -> dict[str, int]:
    """Late answers by the fault they were sent during (or up to LATE_S before): "none" for
    the others, which say the machine, not a dependency, was slow."""
    counts: dict[str, int] = {}
    for sent in stream.late_at:
        during = [
            name for name, (begin, end) in stream.windows.items() if begin - LATE_S <= sent <= end
        ]
        key = during[0] if during else "none"
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass(frozen=True)
class Landed:
    orders: int  # accepted webhooks whose order is stored, its event processed
    events: int  # accepted events processed
    pending: int  # inbox rows and events still waiting
    lost: int
    duplicates: int  # customers counted with more than their one order
    complete: bool


def _landed(database_url: str, stream: Stream) -> Landed:
    expected_orders = {str(10**9 + n) for n in stream.webhooks_accepted}
    expected_events = {f"chaos-signup-{n}" for n in stream.events_accepted}
    with session(database_url) as db:
        orders = Counter(
            db.scalars(select(col(Order.source_order_id)).where(col(Order.source) == "shopify"))
        )
        processed = set(
            db.scalars(
                select(col(Event.source_event_id)).where(
                    col(Event.status) == "processed", col(Event.source) == "api"
                )
            )
        )
        placed = Counter(
            db.scalars(
                select(col(Order.source_order_id))
                .join(Event, col(Event.order_id) == Order.id)
                .where(col(Event.type) == "order.placed", col(Event.status) == "processed")
            )
        )
        pending_inbox = db.scalar(select(func.count()).where(col(InboxItem.status) == "pending"))
        pending_events = db.scalar(select(func.count()).where(col(Event.status) == "pending"))
        twice = db.scalar(
            select(func.count()).where(
                col(Customer.email).like("chaos-%"), col(Customer.orders_count) > 1
            )
        )
    stored = {order for order in expected_orders if placed[order] >= 1}
    pending = int(pending_inbox or 0) + int(pending_events or 0)
    missing = (len(expected_orders) - len(stored)) + len(expected_events - processed)
    duplicates = int(twice or 0) + sum(1 for order in expected_orders if orders[order] > 1)
    return Landed(
        orders=len(stored),
        events=len(expected_events & processed),
        pending=pending,
        lost=missing,
        duplicates=duplicates,
        complete=missing == 0 and pending == 0,
    )
