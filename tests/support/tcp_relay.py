"""A TCP relay in front of a server: `stop()` takes the server away from every client (the
listener and each open connection closed), `start()` brings it back on the same port. For a
server shared with other tests (RabbitMQ), which the test must not stop itself."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from tests.support.services import free_port


def address(url: str) -> tuple[str, int]:
    """The host and port a server's URL names."""
    target = urlsplit(url)
    assert target.hostname is not None and target.port is not None, url
    return target.hostname, target.port


def on_port(url: str, port: int, *, host: str = "127.0.0.1") -> str:
    """`url` (its credentials and path kept) reached on `host`:`port`: through a proxy."""
    target = urlsplit(url)
    credentials = target.netloc.rpartition("@")[0]
    at = f"{credentials}@" if credentials else ""
    return urlunsplit(target._replace(netloc=f"{at}{host}:{port}"))


class TcpRelay:
    def __init__(self, url: str) -> None:
        self.target = address(url)
        self.port = free_port()
        self.url = on_port(url, self.port)
        self.listener: socket.socket | None = None
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        if self.listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Closes the listener and every relayed connection: clients see the server gone."""
        listener, self.listener = self.listener, None
        if listener is not None:
            _close(listener)
        with self.lock:
            sockets, self.open = self.open, set()
        for each in sockets:
            _close(each)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by stop()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                if self.listener is not listener:  # stopped meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self.open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def __enter__(self) -> TcpRelay:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(each: socket.socket) -> None:
    with contextlib.suppress(OSError):
        each.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        each.close()
