"""The web process on a free port, in a thread of the test: for the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from tests.support.services import free_port
from tests.support.waiting import wait_until
from worker.settings import Settings
from worker.web import create_app


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app for `settings`, listening on 127.0.0.1; yields its base URL, stops after."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=20, what="the web process to listen")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
