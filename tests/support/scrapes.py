"""Reading a Prometheus scrape: each sample's value by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of the text exposition format, keyed by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly `labels`; 0 when the scrape has none (a counter not yet
    touched)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)
