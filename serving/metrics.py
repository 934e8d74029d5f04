"""Prometheus metrics of one app instance (own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "stockpilot_request_seconds",
            "Request latency by route template and status class.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "stockpilot_decisions_total",
            "Routed recommendations by type and outcome (release/review/hold/auto_offer/...).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "stockpilot_queue_depth",
            "Pending items per review queue.",
            ["queue"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "stockpilot_model_version_info",
            "Served model versions (value 1; the version is a label).",
            ["model", "version", "source"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "stockpilot_ready", "1 when models and policy are loaded.", registry=self.registry
        )

    def watch_commits(self, committer: CommitCounts) -> None:
        """Export the group committer's counters (read at scrape time)."""
        c = committer
        self.registry.register(
            _ReadAtScrape(
                [
                    (
                        "stockpilot_commits",
                        "Write transactions committed by the group committer.",
                        lambda: c.batches,
                    ),
                    (
                        "stockpilot_committed_units",
                        "Write units (requests) committed; units / commits is the mean batch.",
                        lambda: c.units,
                    ),
                    (
                        "stockpilot_commit_retries",
                        "Batches run again unit by unit because one of their units failed.",
                        lambda: c.retried,
                    ),
                ]
            )
        )

    def watch_scoring(self, batcher: ScoringCounts) -> None:
        """Export the order-scoring batcher's counters (read at scrape time)."""
        b = batcher
        self.registry.register(
            _ReadAtScrape(
                [
                    (
                        "stockpilot_scoring_passes",
                        "Order-risk scoring passes (one feature and SHAP computation each).",
                        lambda: b.passes,
                    ),
                    (
                        "stockpilot_scored_requests",
                        "Requests scored; requests / passes is the mean dynamic batch.",
                        lambda: b.requests,
                    ),
                ]
            )
        )

    def set_models(self, served: list[tuple[str, str, str]]) -> None:
        self.model_version.clear()
        for name, version, source in served:
            self.model_version.labels(name, version, source).set(1)

    def set_queue_depths(self, depths: dict[str, int]) -> None:
        self.queue_depth.clear()
        for queue, depth in depths.items():
            self.queue_depth.labels(queue).set(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CommitCounts(Protocol):
    batches: int
    units: int
    retried: int


class ScoringCounts(Protocol):
    passes: int
    requests: int


class _ReadAtScrape(Collector):
    """Counters kept by a component as plain integers, read when Prometheus scrapes."""

    def __init__(self, counters: list[tuple[str, str, Callable[[], float]]]) -> None:
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, documentation, read in self.counters:
            yield CounterMetricFamily(name, documentation, read())
