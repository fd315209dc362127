"""A TCP proxy that can hang: it keeps accepting connections but stops passing bytes.

What a stopped server, a lock-up or a network dropping packets looks like to a client: the
connection opens (the kernel accepts it), nothing is refused, nothing ever answers. `stall()`
holds every byte in both directions, `resume()` passes them on, as a server waking up would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from sqlalchemy.engine import make_url

from tests.support.services import free_port


class StallingProxy:
    """127.0.0.1:`port` forwarded to `target` (host and port, or a Unix socket's path);
    threads only, stopped by `close()`."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target
        self.port = free_port()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, name="stall-accept", daemon=True).start()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    @property
    def is_stalled(self) -> bool:
        return not self._flowing.is_set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.settimeout(5)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target, timeout=5)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(None)
        try:
            while True:
                self._flowing.wait()  # stalled: read nothing, so nothing is passed on
                data = source.recv(65536)
                if not data or self._closed.is_set():
                    break
                self._flowing.wait()  # stalled while this chunk was read: hold it
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def postgres_target(url: str) -> tuple[str, int] | str:
    """Where the server of a PostgreSQL URL listens: host and port, or its Unix socket."""
    parsed = make_url(url)
    port = parsed.port or 5432
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        return f"{socket_dir}/.s.PGSQL.{port}"
    return (parsed.host or "127.0.0.1", port)


def through(url: str, proxy: StallingProxy) -> str:
    """`url` (a PostgreSQL database) reached through `proxy` over TCP."""
    parsed = make_url(url)
    query = {key: value for key, value in parsed.query.items() if key != "host"}
    return parsed.set(host="127.0.0.1", port=proxy.port, query=query).render_as_string(
        hide_password=False
    )
