"""The bare component of the delivery bench at a distance: the same Mail Send requests Ladder
makes, from a pool of kept-alive connections (urllib3) on `--threads` threads, and nothing
else — no queue, no database, no rendering. Run as its own process so that its CPU is its own.

    python -m bench.bare_client URL --requests N --threads T   (prints one JSON line)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import urllib3

from worker.providers import OutgoingEmail
from worker.providers.sendgrid import MAIL_SEND, request_body


def body(n: int) -> bytes:
    """A body shaped like the delivery bench's emails, numbered so the stand-in tells them apart."""
    email = OutgoingEmail(
        delivery_id=n,
        to=f"bare{n}@example.com",
        sender="hello@shop.example",
        sender_name="Ladder Bench",
        subject="Thank you for your first order",
        html="<p>" + "Thank you for your order. " * 40 + "</p>",
        text="Thank you for your order. " * 40,
        created_at=datetime.now(UTC),
        key=f"bare-{n}",
        headers={},
        categories=("bench",),
        custom_args={"delivery_id": f"bare-{n}"},
    )
    return json.dumps(request_body(email)).encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args(argv)
    pool = urllib3.PoolManager(maxsize=args.threads)
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
    bodies = [body(n) for n in range(args.requests)]
    url = args.url.rstrip("/") + MAIL_SEND

    took: list[float] = []  # each request's seconds (list.append is atomic)

    def send(payload: bytes) -> int:
        started = time.perf_counter()
        status = int(pool.request("POST", url, body=payload, headers=headers).status)
        took.append(time.perf_counter() - started)
        return status

    with ThreadPoolExecutor(args.threads) as threads:  # warm: every connection opened
        list(threads.map(send, bodies[: args.threads * 2]))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, started = usage.ru_utime + usage.ru_stime, time.perf_counter()
        took.clear()
        statuses = list(threads.map(send, bodies))
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            "requests": len(statuses),
            "accepted": statuses.count(202),
            "seconds": seconds,
            "cpu_s": usage.ru_utime + usage.ru_stime - cpu,
            "request_s": sum(took) / len(took),
        },
        sys.stdout,
    )
    print()
    return 0 if statuses.count(202) == len(statuses) else 1


if __name__ == "__main__":
    raise SystemExit(main())
