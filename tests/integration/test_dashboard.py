"""The Grafana dashboard queries only metrics some Ladder process exports: Ladder's as the web
serves them, Dramatiq's as its middleware declares them."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import prometheus
from prometheus_client.parser import text_string_to_metric_families

from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.web import create_app

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ladder.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def queried_names() -> set[str]:
    """Every metric name in the dashboard's expressions."""

    def exprs(panels: list[dict[str, object]]) -> Iterator[str]:
        for panel in panels:
            for target in panel.get("targets", []):  # type: ignore[attr-defined]
                yield target["expr"]
            yield from exprs(panel.get("panels", []))  # type: ignore[arg-type]

    dashboard = json.loads(DASHBOARD.read_text())
    found = set()
    for expr in exprs(dashboard["panels"]):
        found |= set(re.findall(r"\b(?:ladder|dramatiq)_[a-z_]+\b", expr))
    return found


def sample_names(kind: str, name: str) -> set[str]:
    return {name + suffix for suffix in SUFFIXES[kind]}


def dramatiq_names() -> set[str]:
    """What Dramatiq's Prometheus middleware declares, read from its source (its metrics only
    exist in a booted worker process)."""
    source = inspect.getsource(prometheus)
    declared = re.findall(r'prom\.(Counter|Gauge|Histogram)\(\s*"(dramatiq_\w+)"', source)
    assert declared, "Dramatiq's middleware declares no metric any more"
    names: set[str] = set()
    for kind, name in declared:
        names |= sample_names(kind.lower(), name.removesuffix("_total"))
    return names


def test_every_metric_the_dashboard_queries_is_exported(
    runtime: Runtime,
    stub_broker: StubBroker,  # noqa: ARG001
) -> None:
    with TestClient(create_app(runtime.settings)) as client:
        scraped = client.get("/metrics").text
    ladder = set()
    for family in text_string_to_metric_families(scraped):
        # `…_created` (when a counter's labels were first used) is prometheus_client's own.
        if family.name.startswith("ladder_") and not family.name.endswith("_created"):
            ladder |= sample_names(family.type, family.name)
    queried = queried_names()
    assert {"ladder_webhooks_total", "ladder_deliveries", "dramatiq_messages_total"} <= queried
    assert queried - ladder - dramatiq_names() == set()
    # And each of Ladder's metrics has a panel.
    assert ladder - queried == {"ladder_provider_request_seconds_sum"}
