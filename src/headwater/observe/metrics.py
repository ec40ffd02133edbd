"""The probe's snapshot as Prometheus metrics (prometheus_client, the `metrics` extra).

A custom collector on a private registry: every scrape renders the latest snapshot, so the
values are exactly the runner's own (and, once the run ended, its report's). Names follow
Prometheus conventions: `headwater_` prefix, `_total` for counters, seconds and bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from headwater.errors import require
from headwater.observe.probe import RunProbe

#: name (without `_total` for counters), type, labels, help; the README's table follows it
METRICS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("headwater_events", "counter", ("sink", "entity", "op"), "Events a sink wrote."),
    ("headwater_world_events", "counter", ("entity", "op"), "Events the world produced."),
    ("headwater_written_bytes", "counter", ("sink",), "Bytes a sink wrote (where it knows)."),
    ("headwater_errors", "counter", ("sink",), "Deliveries a sink gave up on."),
    ("headwater_retries", "counter", ("sink",), "Failed attempts a sink retried."),
    ("headwater_reconnects", "counter", ("sink",), "Times a sink reconnected."),
    ("headwater_faults", "counter", ("sink", "fault"), "Events a fault acted on."),
    ("headwater_steps", "counter", (), "Steps of simulated time taken."),
    ("headwater_acks_pending", "gauge", ("sink",), "Messages a broker has not acknowledged."),
    ("headwater_simulated_time_seconds", "gauge", (), "The simulated clock (Unix time)."),
    ("headwater_simulated_elapsed_seconds", "gauge", (), "Simulated time since the start."),
    ("headwater_wall_elapsed_seconds", "gauge", (), "Wall-clock time since the start."),
    ("headwater_simulated_wall_ratio", "gauge", (), "Simulated seconds per wall second."),
    ("headwater_run_done", "gauge", (), "1 once the run ended."),
]


def need_prometheus() -> None:
    require("prometheus_client", "metrics", "--metrics-port")


def samples(state: dict[str, Any]) -> dict[str, list[tuple[tuple[str, ...], float]]]:
    """Label values and value of every metric, from a probe snapshot."""
    out: dict[str, list[tuple[tuple[str, ...], float]]] = {name: [] for name, *_ in METRICS}
    if not state.get("started"):
        return out
    for name, s in state.get("sinks", {}).items():
        for entity, ops in s["counts"].items():
            for op, n in ops.items():
                out["headwater_events"].append(((name, entity, op), n))
        out["headwater_written_bytes"].append(((name,), s["bytes"]))
        out["headwater_errors"].append(((name,), s["errors"]))
        out["headwater_retries"].append(((name,), s["retries"]))
        out["headwater_reconnects"].append(((name,), s["reconnects"]))
        for fault, n in s.get("faults", {}).items():
            out["headwater_faults"].append(((name, fault), n))
        if s["acks_pending"] is not None:
            out["headwater_acks_pending"].append(((name,), s["acks_pending"]))
    for entity, ops in state.get("entities", {}).items():
        for op, n in ops.items():
            out["headwater_world_events"].append(((entity, op), n))
    out["headwater_steps"].append(((), state.get("steps", 0)))
    out["headwater_simulated_time_seconds"].append(((), state.get("clock_s", 0.0)))
    out["headwater_simulated_elapsed_seconds"].append(((), state.get("elapsed_s", 0.0)))
    out["headwater_wall_elapsed_seconds"].append(((), state.get("wall_s", 0.0)))
    out["headwater_simulated_wall_ratio"].append(((), state.get("ratio", 0.0)))
    out["headwater_run_done"].append(((), 1.0 if state.get("done") else 0.0))
    return out


class _Collector:
    def __init__(self, probe: RunProbe):
        self.probe = probe

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        values = samples(self.probe.snapshot())
        for name, kind, labels, text in METRICS:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            metric = family(name, text, labels=list(labels))
            for label_values, value in values[name]:
                metric.add_metric(list(label_values), value)
            yield metric


class Exposition:
    """Renders the probe in the Prometheus text format, one registry per run."""

    def __init__(self, probe: RunProbe):
        need_prometheus()
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(probe))

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
