"""Hosts on this machine: each a Linux network namespace with a link of its own to this one, so
its processes reach PostgreSQL, the broker and the provider only over TCP, through the address
this side of their link, as workers on other machines would.

The services stay where the tests start them (127.0.0.1, or a Unix socket for the private
PostgreSQL); `Hosts.expose` puts a relay in front of one on every link, and a host's process is
given the relay's address. Killing a host SIGKILLs every process in its namespace at once.

Needs root and iproute2's `ip` (the tests run as root; `make test` installs nothing for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

IP = "/usr/sbin/ip"
Opener = Callable[[], "asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]"]


@dataclass
class Host:
    """One namespace: `address` is its end of the link, `gateway` this machine's end."""

    name: str
    gateway: str
    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, command: Sequence[str], *, env: Mapping[str, str], log: Path) -> None:
        """Runs `command` inside the namespace, its output appended to `log`."""
        with log.open("ab") as output:
            self.processes.append(
                subprocess.Popen(
                    [IP, "netns", "exec", self.name, *command],
                    env=dict(env),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def pids(self) -> list[int]:
        done = subprocess.run([IP, "netns", "pids", self.name], capture_output=True, text=True)
        return [int(pid) for pid in done.stdout.split()]

    def kill(self) -> None:
        """SIGKILL to every process in the namespace, as a host losing its power."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


class Hosts:
    """`count` namespaces, each linked to this one by a veth pair on a /30 of its own."""

    def __init__(self, count: int) -> None:
        tag = os.getpid() % 10_000
        subnet = 100 + os.getpid() % 150  # 10.<subnet>.<host>.0/30: apart per test process
        self.hosts = [
            Host(f"ladder-{tag}-{n}", f"10.{subnet}.{n}.1", f"10.{subnet}.{n}.2")
            for n in range(count)
        ]
        self._links = [f"lh{tag}x{n}" for n in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.base_events.Server] = []
        # Bytes each host sent through each relay: (host name, relay port) → bytes.
        self.sent: Counter[tuple[str, int]] = Counter()

    def __enter__(self) -> Hosts:
        try:
            for host, link in zip(self.hosts, self._links, strict=True):
                _ip("netns", "add", host.name)
                _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", host.name)
                _ip("addr", "add", f"{host.gateway}/30", "dev", link)
                _ip("link", "set", link, "up")
                inside = ("netns", "exec", host.name, IP)
                _ip(*inside, "addr", "add", f"{host.address}/30", "dev", "eth0")
                _ip(*inside, "link", "set", "eth0", "up")
                _ip(*inside, "link", "set", "lo", "up")
        except BaseException:
            self._remove()
            raise
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for host in self.hosts:
            host.kill()
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._remove()

    def expose(self, *, port: int | None = None, unix: str | None = None) -> int:
        """A relay on every host's gateway to the TCP `port` on 127.0.0.1, or to the Unix
        socket `unix`; returns the port the hosts connect to."""

        def opener() -> asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
            if unix is not None:
                return asyncio.ensure_future(asyncio.open_unix_connection(unix))
            return asyncio.ensure_future(asyncio.open_connection("127.0.0.1", port))

        listen = asyncio.run_coroutine_threadsafe(self._listen(opener), self._loop)
        return listen.result(timeout=10)

    async def _listen(self, opener: Opener) -> int:
        port = 0

        def relay(host: Host) -> Callable[..., Awaitable[None]]:
            async def connection(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter
            ) -> None:
                try:
                    target_reader, target_writer = await opener()
                except OSError:
                    writer.close()
                    return
                counted = (host.name, port)
                await asyncio.gather(
                    _pipe(reader, target_writer, self.sent, counted),
                    _pipe(target_reader, writer),
                    return_exceptions=True,
                )

            return connection

        first = await asyncio.start_server(relay(self.hosts[0]), self.hosts[0].gateway, 0)
        self._servers.append(first)
        port = int(first.sockets[0].getsockname()[1])
        for host in self.hosts[1:]:
            self._servers.append(await asyncio.start_server(relay(host), host.gateway, port))
        return port

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()

    def _remove(self) -> None:
        for host, link in zip(self.hosts, self._links, strict=True):
            subprocess.run([IP, "link", "del", link], capture_output=True, check=False)
            subprocess.run([IP, "netns", "del", host.name], capture_output=True, check=False)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    counter: Counter[tuple[str, int]] | None = None,
    key: tuple[str, int] = ("", 0),
) -> None:
    try:
        while chunk := await reader.read(65536):
            if counter is not None:
                counter[key] += len(chunk)
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def _ip(*arguments: str) -> None:
    done = subprocess.run([IP, *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")


def wait_for_port(host: Host, port: int, timeout_s: float = 10.0) -> None:
    """Until a TCP connection from inside `host` to its gateway's `port` succeeds."""
    deadline = time.monotonic() + timeout_s
    probe = f"import socket; socket.create_connection(('{host.gateway}', {port}), 2).close()"
    while True:
        done = subprocess.run(
            [IP, "netns", "exec", host.name, "python3", "-c", probe], capture_output=True
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{host.name} cannot reach {host.gateway}:{port}")
        time.sleep(0.1)
