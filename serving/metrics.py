"""Prometheus metrics of one app instance (own registry, so tests can build many apps)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
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

    def watch(self, source: object, counters: dict[str, tuple[str, str]]) -> None:
        """Export integer attributes of ``source`` as counters, read at scrape time.

        ``counters``: metric name → (attribute, help), e.g. :data:`COMMITS`.
        """
        self.registry.register(_ReadAtScrape(source, counters))

    def watch_shadows(self, shadows: Mapping[str, object]) -> None:
        """Export every model's shadow counts, labelled by model and challenger version
        (``shadows``: :class:`serving.shadow.Shadow` by model name), read at scrape time."""
        self.registry.register(_Shadows(shadows))

    def watch_live(self, live: object) -> None:
        """Export the live state's open order lines, read at scrape time (``live``: a
        :class:`serving.live.LiveState`; its order-risk state changes with the model)."""
        self.registry.register(_OpenLines(live))

    def watch_kpis(self, store: object) -> None:
        """Export the KPIs over the last 28 days of data as gauges, read at scrape time
        (``store``: a :class:`governance.kpis.KpiStore`; nothing until its facts exist)."""
        self.registry.register(_KpiGauges(store))

    def watch_monitoring(self, home: object, models: tuple[str, ...]) -> None:
        """Export the latest monitoring report of each model (``stockpilot monitor``) as
        gauges, read at scrape time: drift per feature, estimated and realised AUC."""
        self.registry.register(_MonitoringGauges(home, models))

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


# The group committer's and the scoring batcher's own counts (metric → attribute, help).
COMMITS = {
    "stockpilot_commits": ("batches", "Write transactions committed by the group committer."),
    "stockpilot_committed_units": (
        "units",
        "Write units (requests) committed; units / commits is the mean batch.",
    ),
    "stockpilot_commit_retries": (
        "retried",
        "Batches run again unit by unit because one of their units failed.",
    ),
    "stockpilot_commit_batch_seconds": (
        "batch_seconds",
        "Time the writer process spent running batches.",
    ),
    "stockpilot_commit_wait_seconds": (
        "wait_seconds",
        "Time requests waited for their commit (queue, batch, transfer); per commit wait: "
        "divide by stockpilot_commit_waits.",
    ),
    "stockpilot_commit_waits": ("waits", "Commits awaited by requests."),
}
SCORING = {
    "stockpilot_scoring_passes": (
        "passes",
        "Order-risk scoring passes (one feature and SHAP computation each).",
    ),
    "stockpilot_scored_requests": (
        "requests",
        "Requests scored; requests / passes is the mean dynamic batch.",
    ),
    "stockpilot_scoring_wait_seconds": (
        "wait_seconds",
        "Time requests waited for their scoring pass (queue and pass), in all.",
    ),
}

SHADOW = {
    "stockpilot_shadow_scored": (
        "scored",
        "Order-risk requests also scored by the challenger (serving/shadow.py).",
    ),
    "stockpilot_shadow_flips": (
        "flips",
        "Shadow-scored orders the challenger would have routed differently.",
    ),
}

SHADOW_BY_MODEL = {
    "stockpilot_shadow_cases": (
        "scored",
        "Cases the model's challenger decided too (orders, substitute searches, series of "
        "replenishment runs; serving/shadow.py).",
    ),
    "stockpilot_shadow_case_flips": (
        "flips",
        "Shadow-scored cases the challenger would have decided differently.",
    ),
    "stockpilot_shadow_errors": (
        "errors",
        "Shadow scorings that failed (the request never saw it).",
    ),
}

LIMITS = {
    "stockpilot_rate_limited": ("limited", "Requests refused with 429 by the per-key rate limit."),
}


class _ReadAtScrape(Collector):
    def __init__(self, source: object, counters: dict[str, tuple[str, str]]) -> None:
        self.source = source
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, (attribute, documentation) in self.counters.items():
            yield CounterMetricFamily(name, documentation, getattr(self.source, attribute))


class _Shadows(Collector):
    def __init__(self, shadows: Mapping[str, object]) -> None:
        self.shadows = shadows

    def collect(self) -> Iterator[CounterMetricFamily]:
        labels = ["model", "version"]
        families = {
            attribute: CounterMetricFamily(name, documentation, labels=labels)
            for name, (attribute, documentation) in SHADOW_BY_MODEL.items()
        }
        for model, shadow in self.shadows.items():
            version = getattr(shadow, "version", None)
            if version is None:
                continue
            for attribute, family in families.items():
                family.add_metric([model, str(version)], getattr(shadow, attribute))
        yield from families.values()


class _OpenLines(Collector):
    def __init__(self, live: object) -> None:
        self.live = live

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        live = self.live
        gauge = GaugeMetricFamily(
            "stockpilot_open_lines",
            "Accepted order lines the live state keeps until their outcome arrives.",
            value=live.open_lines,  # type: ignore[attr-defined]
        )
        aged = CounterMetricFamily(
            "stockpilot_open_lines_aged_out",
            "Open order lines forgotten without an outcome (never counted as a hit or a "
            "miss): past their promise + 182 days, or the oldest beyond max_open_lines.",
            labels=["reason"],
        )
        over_cap = live.aged_out_over_cap  # type: ignore[attr-defined]
        aged.add_metric(["past_promise"], live.aged_out - over_cap)  # type: ignore[attr-defined]
        aged.add_metric(["over_cap"], over_cap)
        yield gauge
        yield aged


class _KpiGauges(Collector):
    def __init__(self, store: object) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = GaugeMetricFamily(
            "stockpilot_kpi_value",
            "Operational KPI over the last 28 days of data (GET /v1/kpis for the definitions).",
            labels=["kpi", "version", "unit"],
        )
        met = GaugeMetricFamily(
            "stockpilot_kpi_target_met",
            "1 when the KPI meets its target, 0 when not.",
            labels=["kpi"],
        )
        try:
            current = self.store.current()  # type: ignore[attr-defined]
        except Exception:  # a scrape never fails because the KPIs cannot be computed now
            current = None
        for computed in current[1] if current is not None else ():
            d, figure = computed.definition, computed.result.value
            if figure is not None and math.isfinite(figure):
                value.add_metric([d.id, d.version, d.unit], figure)
            if computed.status != "no_data":
                met.add_metric([d.id], 1.0 if computed.status == "met" else 0.0)
        yield value
        yield met


class _MonitoringGauges(Collector):
    """Gauges from ``home/monitoring/<model>.json``; nothing for a model never monitored."""

    def __init__(self, home: object, models: tuple[str, ...]) -> None:
        self.home = home
        self.models = models

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from stockpilot.monitoring_reports import read_report

        psi = GaugeMetricFamily(
            "stockpilot_drift_psi",
            "PSI of each served feature on the last day monitored (vs the training reference).",
            labels=["model", "feature"],
        )
        alarms = GaugeMetricFamily(
            "stockpilot_drift_alarm_days",
            "Feature-days that alarmed in the latest monitoring run.",
            labels=["model", "feature"],
        )
        auc = GaugeMetricFamily(
            "stockpilot_model_auc",
            "AUC of the latest monitored week: estimated (CBPE, from scores alone) and realised "
            "(once outcomes are known).",
            labels=["model", "version", "kind", "week"],
        )
        substitution = GaugeMetricFamily(
            "stockpilot_substitution_metric",
            "Substitution figures of the latest monitored week: accept_rate and hit1, "
            "estimated (CBPE, from P(accept)) and realised (once feedback is known).",
            labels=["model", "version", "metric", "kind", "week"],
        )
        demand = GaugeMetricFamily(
            "stockpilot_demand_metric",
            "Demand forecast figures of the latest monitored week: wape, bias, coverage80.",
            labels=["model", "version", "metric", "week"],
        )
        served = GaugeMetricFamily(
            "stockpilot_served_auc",
            "Realised AUC of the served order-risk lines (stored recommendations joined to "
            "posted outcomes) of the latest week with one, per served version.",
            labels=["model", "version", "week"],
        )
        for model in self.models:
            report = read_report(self.home, model)  # type: ignore[arg-type]
            if not report:
                continue
            for row in (report.get("drift") or {}).get("by_feature", []):
                if _finite(row.get("last_psi")):
                    psi.add_metric([model, row["feature"]], float(row["last_psi"]))
                alarms.add_metric([model, row["feature"]], float(row.get("alarms") or 0))
            weeks = (report.get("performance") or {}).get("weeks") or []
            version = str(report.get("model_version"))
            for kind, key in (("estimated", "expected_auc"), ("realised", "auc")):
                known = [w for w in weeks if _finite(w.get(key))]
                if known:
                    auc.add_metric([model, version, kind, known[-1]["week"]], float(known[-1][key]))
            _latest_weeks(substitution, report, model, version)
            block = report.get("demand") or {}
            if block.get("weeks"):
                last = block["weeks"][-1]
                for metric in ("wape", "bias", "coverage80"):
                    if _finite(last.get(metric)):
                        demand.add_metric(
                            [model, version, metric, last["week"]], float(last[metric])
                        )
            by_version: dict[str, dict] = {}
            for w in (report.get("served") or {}).get("weeks") or []:
                if _finite(w.get("auc")) and w.get("model_version") is not None:
                    by_version[str(w["model_version"])] = w
            for served_version, w in by_version.items():
                served.add_metric([model, served_version, w["week"]], float(w["auc"]))
        yield psi
        yield alarms
        yield auc
        yield substitution
        yield demand
        yield served


def _latest_weeks(gauge: GaugeMetricFamily, report: dict, model: str, version: str) -> None:
    """The substitution block's latest week with each figure, estimated and realised."""
    weeks = (report.get("substitution") or {}).get("weeks") or []
    for metric in ("accept_rate", "hit1"):
        for kind, key in (("estimated", f"expected_{metric}"), ("realised", metric)):
            known = [w for w in weeks if _finite(w.get(key))]
            if known:
                gauge.add_metric(
                    [model, version, metric, kind, known[-1]["week"]], float(known[-1][key])
                )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
