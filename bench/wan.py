"""A provider as production sees it, on this machine: the SendGrid stand-in behind TLS (a
throwaway certificate for 127.0.0.1, trusted through SSL_CERT_FILE; tests/support/tls.py) and
a relay that holds every chunk of bytes for half the round trip in each direction, so a
request pays for its handshakes and its latency as it would against SendGrid tens of
milliseconds away."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.sendgrid_standin import SendGridStandIn, running_standin
from tests.support.tls import speak_tls


class DelayRelay:
    """A TCP relay on 127.0.0.1 that forwards each chunk after `one_way_s`, in order, both
    ways: a round trip of twice that, and no limit on the bytes in flight."""

    def __init__(self, target_port: int, *, one_way_s: float) -> None:
        self.target_port = target_port
        self.one_way_s = one_way_s
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DelayRelay:
        self.thread.start()
        self._ready.wait(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shut(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _shut(self) -> None:
        """Closes the listener and ends every connection's piping, quietly."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        current = asyncio.current_task()
        if tasks := [task for task in asyncio.all_tasks() if task is not current]:
            await asyncio.wait(tasks, timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Each chunk leaves `one_way_s` after it arrived; the end too, after the last."""
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(65536):
                loop.call_later(self.one_way_s, _write, writer, data)
        except (ConnectionError, OSError):
            pass
        loop.call_later(self.one_way_s, _close, writer)


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(data)


def _close(writer: asyncio.StreamWriter) -> None:
    if not writer.is_closing():
        writer.close()


@dataclass(frozen=True)
class Remote:
    standin: SendGridStandIn
    url: str  # https://127.0.0.1:<relay port>
    ca_file: Path  # for SSL_CERT_FILE
    round_trip_ms: float


@contextmanager
def remote_standin(directory: Path, *, round_trip_ms: float) -> Iterator[Remote]:
    """The stand-in answering 202 over TLS, reached through the delay relay."""
    with running_standin(validate=False) as standin:
        cert = speak_tls(standin, directory)
        with DelayRelay(standin.server.server_address[1], one_way_s=round_trip_ms / 2000) as relay:
            yield Remote(standin, f"https://127.0.0.1:{relay.port}", cert, round_trip_ms)
