"""What a scrape of this process returns: its own counters and, where given, the database's
gauges; and the clock's exporter port."""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class Scrape(Collector):
    """This process's registry followed by `extra` collectors (not registered globally, so
    two apps in one process, as in the tests, each have their own)."""

    def __init__(self, *extra: Collector) -> None:
        self.extra = extra

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        for collector in self.extra:
            yield from collector.collect()


def render(scrape: Scrape) -> bytes:
    """The text exposition format of everything `scrape` holds."""
    return generate_latest(scrape)


def serve(scrape: Scrape, *, host: str, port: int) -> WSGIServer:
    """Serves `scrape` on host:port from a daemon thread; returns the server (to shut down)."""
    server, _thread = start_http_server(port, addr=host, registry=scrape)
    return server
