"""A small HTTP/1.1 load client on raw asyncio streams: keep-alive connections, prebuilt
requests, latency per request. Light enough that the servers, not the client, are measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    sent: int
    accepted: int  # answered 200
    seconds: float
    latencies_s: list[float]

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    requests: asyncio.Queue[tuple[bytes, float]],
    results: list[tuple[int, float]],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                request, due = requests.get_nowait()
            except asyncio.QueueEmpty:
                return
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            # A paced request's latency runs from when it was due, so a server falling behind
            # shows as latency rather than as a slower send rate (no coordinated omission).
            started = due or time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            results.append((status, time.perf_counter() - started))
    finally:
        writer.close()


async def _run(
    host: str, port: int, requests: Sequence[bytes], *, connections: int, rate: float | None
) -> LoadResult:
    queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
    start = time.perf_counter() + 0.05
    for position, request in enumerate(requests):
        queue.put_nowait((request, start + position / rate if rate else 0.0))
    results: list[tuple[int, float]] = []
    began = time.perf_counter()
    await asyncio.gather(*(_connection(host, port, queue, results) for _ in range(connections)))
    seconds = time.perf_counter() - began
    accepted = sum(1 for status, _ in results if status == 200)
    return LoadResult(len(requests), accepted, seconds, [latency for _, latency in results])


def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int,
    rate: float | None = None,
) -> LoadResult:
    """Sends every request once; as fast as the server answers, or paced at `rate` per second."""
    return asyncio.run(_run(host, port, requests, connections=connections, rate=rate))


async def _stream_connection(
    host: str,
    port: int,
    next_request: Callable[[], tuple[bytes, float] | None],
    results: list[tuple[int, float]],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (job := next_request()) is not None:
            request, due = job
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(request)
            status = await _read_response(reader)
            results.append((status, time.perf_counter() - due))  # from when it was due
    finally:
        writer.close()


async def _run_stream(
    host: str, port: int, make: Callable[[int], bytes], *, count: int, rate: float, connections: int
) -> LoadResult:
    start = time.perf_counter() + 0.05
    position = 0

    def next_request() -> tuple[bytes, float] | None:
        nonlocal position
        if position >= count:
            return None
        position += 1
        return make(position - 1), start + (position - 1) / rate

    results: list[tuple[int, float]] = []
    began = time.perf_counter()
    await asyncio.gather(
        *(_stream_connection(host, port, next_request, results) for _ in range(connections))
    )
    seconds = time.perf_counter() - began
    accepted = sum(1 for status, _ in results if status == 200)
    return LoadResult(count, accepted, seconds, [latency for _, latency in results])


def run_stream(
    host: str, port: int, make: Callable[[int], bytes], *, count: int, rate: float, connections: int
) -> LoadResult:
    """Sends `count` requests paced at `rate` per second, request i built by `make(i)` when it is
    due: a soak of many minutes never holds its requests in memory at once."""
    return asyncio.run(
        _run_stream(host, port, make, count=count, rate=rate, connections=connections)
    )
