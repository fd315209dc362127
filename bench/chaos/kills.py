"""Kills: due emails sent to a SendGrid stand-in in a storm of 500s and 429s while the worker
is SIGKILLed again and again and the clock once; each email must reach SendGrid exactly once.

What the customer sees is what the stand-in accepted: an email is lost when no request for it
was answered 202, and duplicated when more than one was.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.progress import Progress
from sqlalchemy import func, select, update
from sqlmodel import col

from bench.fleet import Fleet
from models import Delivery
from models.db import session
from tests.support.deliveries import seed_due_deliveries
from tests.support.sendgrid_standin import Received, Reply, SendGridStandIn, accepted, rate_limited
from worker.delivery.recovery import OUTCOME_UNKNOWN

SETTLED_WITHIN_S = 300.0


@dataclass(frozen=True)
class KillsResult:
    deliveries: int
    worker_kills: int
    clock_kills: int
    requests: int  # Mail Send requests the stand-in received, all answers
    lost: int  # deliveries SendGrid never accepted, their request never in flight at a kill
    in_flight: int  # failed "outcome unknown": a request in flight at a kill
    duplicates: int  # deliveries SendGrid accepted more than once
    statuses: Counter[str]  # the rows at the end
    drain_s: float  # from the last kill until every row was settled


def storm(rng: random.Random, *, errors: float, throttled: float) -> object:
    """The stand-in's answers: `errors` of them 500, `throttled` 429, the rest 202."""

    def answer(_request: Received) -> Reply:
        draw = rng.random()
        if draw < errors:
            return Reply(500, {}, b'{"errors": [{"message": "internal error"}]}')
        if draw < errors + throttled:
            return rate_limited(0)
        return accepted()

    return answer


def uncertain(database_url: str) -> set[int]:
    """Deliveries failed as "outcome unknown": their request may have left when a kill came."""
    with session(database_url) as db:
        rows = db.execute(
            select(col(Delivery.id)).where(
                col(Delivery.status) == "failed", col(Delivery.reason).startswith(OUTCOME_UNKNOWN)
            )
        )
        return {int(row_id) for row_id in rows.scalars()}


def statuses(database_url: str) -> Counter[str]:
    with session(database_url) as db:
        status = col(Delivery.status)
        rows = db.execute(select(status, func.count()).group_by(status)).all()
    return Counter({str(name): int(count) for name, count in rows})


def run_kills(
    fleet: Fleet,
    standin: SendGridStandIn,
    *,
    database_url: str,
    deliveries: int,
    worker_kills: int,
    progress: Progress,
) -> KillsResult:
    standin.answer = storm(random.Random(7), errors=0.3, throttled=0.1)  # type: ignore[assignment]
    with session(database_url) as db:
        ids = seed_due_deliveries(db, deliveries, now=datetime.now(UTC), prefix="kills")
        # Due and never enqueued: the clock's relay hands them to the queue, as in production.
        db.execute(update(Delivery).values(enqueued_at=None))
        db.commit()
    task = progress.add_task("kills: emails accepted", total=deliveries)
    fleet.start("worker")
    fleet.start("clock")
    # A kill each time another share of the emails has gone out; the clock once, midway.
    marks = [deliveries * (n + 1) // (worker_kills + 2) for n in range(worker_kills)]
    clock_mark = marks[len(marks) // 2] if marks else None
    last_kill = time.monotonic()
    deadline = time.monotonic() + SETTLED_WITHIN_S
    while True:
        fleet.check()
        done = len(set(standin.accepted_delivery_ids()))
        progress.update(task, completed=done)
        if marks and done >= marks[0]:
            marks.pop(0)
            fleet.kill("worker")
            fleet.start("worker")
            last_kill = time.monotonic()
        if clock_mark is not None and done >= clock_mark:
            clock_mark = None
            fleet.kill("clock")
            fleet.start("clock")
        rows = statuses(database_url)
        if not marks and rows["scheduled"] + rows["sending"] == 0:
            break
        if time.monotonic() > deadline:
            break  # What SendGrid has not accepted by now is counted lost.
        time.sleep(0.2)
    drain_s = time.monotonic() - last_kill
    fleet.stop()
    per_delivery = Counter(int(i) for i in standin.accepted_delivery_ids())
    unknown = uncertain(database_url)
    return KillsResult(
        deliveries=deliveries,
        worker_kills=worker_kills,
        clock_kills=1 if worker_kills else 0,
        requests=len(standin.requests),
        lost=sum(1 for i in ids if per_delivery[i] == 0 and i not in unknown),
        in_flight=len(unknown),
        duplicates=sum(1 for i in ids if per_delivery[i] > 1),
        statuses=statuses(database_url),
        drain_s=drain_s,
    )
