"""Bare Dramatiq: N no-op messages through one worker process on the same Redis."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from bench.harness import (
    cpu_seconds,
    cpu_spent,
    dramatiq_worker,
    outstanding,
    wait_until,
    worker_child,
)
from bench.report import Measurement

WARMUP_MESSAGES = 50
# Redis answers HLEN in microseconds: poll finely so a run of a second or two is timed well.
POLL_S = 0.01


def measure_noop(
    *, redis_url: str, messages: int, threads: int, env: dict[str, str], workdir: Path
) -> Measurement:
    """Times `messages` no-op messages from the first send until the last is acknowledged."""
    from bench import noop_actors  # reads REDIS_URL at import, like the worker process does

    client = redis.Redis.from_url(redis_url)
    log = workdir / "noop-worker.log"

    def drained() -> bool:
        return outstanding(client, noop_actors.QUEUE) == 0

    with dramatiq_worker(["bench.noop_actors:broker"], threads=threads, env=env, log=log) as proc:
        for i in range(WARMUP_MESSAGES):
            noop_actors.noop.send(i)
        wait_until(
            drained, timeout_s=60, interval_s=POLL_S, process=proc, log=log, what="warming up"
        )
        child = worker_child(proc)
        cpu_before = cpu_seconds(child)
        started = time.monotonic()
        for i in range(messages):
            noop_actors.noop.send(i)
        finished = wait_until(
            drained,
            timeout_s=max(60.0, messages / 100),
            interval_s=POLL_S,
            process=proc,
            log=log,
            what=f"waiting for {messages} no-op messages",
        )
        cpu_used = cpu_spent(cpu_before, cpu_seconds(child))
    name = "bare Dramatiq: no-op actor"
    return Measurement(name, "messages", messages, finished - started, cpu_used)
