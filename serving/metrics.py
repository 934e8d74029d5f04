"""Prometheus metrics of one app instance (own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Iterator
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
        self.registry.register(_CommitCollector(committer))

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


class _CommitCollector(Collector):
    def __init__(self, committer: CommitCounts) -> None:
        self.committer = committer

    def collect(self) -> Iterator[CounterMetricFamily]:
        c = self.committer
        yield CounterMetricFamily(
            "stockpilot_commits", "Write transactions committed by the group committer.", c.batches
        )
        yield CounterMetricFamily(
            "stockpilot_committed_units",
            "Write units (requests) committed; units / commits is the mean batch size.",
            c.units,
        )
        yield CounterMetricFamily(
            "stockpilot_commit_retries",
            "Batches run again unit by unit because one of their units failed.",
            c.retried,
        )
