"""`RunProbe`: what the runner already tracks (its report, every sink's SinkStats, every
fault pipeline's summary), copied at each step into one snapshot that the metrics and the
live view read from their own threads. Only the runner's thread touches sinks and pipes."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.core.micros import US
from headwater.secrets import redact_data

if TYPE_CHECKING:
    from headwater.faults.pipeline import FaultPipeline
    from headwater.runner import RunReport
    from headwater.sinks import Sink
    from headwater.world.changes import Changes
    from headwater.world.engine import World

SAMPLES = 5  # rows kept per entity for the live view
POINTS = 240  # points kept of the rate series (halved when full)
SAMPLE_EVERY = 0.5  # wall seconds between copies of sample rows (to_pylist is not free)


def fault_count(summary: Any) -> int:
    """The events a fault acted on, from its summary (an outage holds, the others count)."""
    if not isinstance(summary, dict):
        return 0
    value = summary.get("events", summary.get("held", 0))
    return int(value) if isinstance(value, int | float) else 0


def sink_figures(kind: str, counts: dict[str, dict[str, int]], detail: dict[str, Any]) -> dict:
    """One sink's figures from its stats (or its entry of the run report)."""
    sent = sum(sum(ops.values()) for ops in counts.values())
    acked = detail.get("acknowledged")
    return {
        "kind": kind,
        "counts": {e: dict(ops) for e, ops in counts.items()},
        "events": sent,
        "bytes": int(detail.get("bytes", 0) or 0),
        "errors": int(detail.get("failed", 0) or 0),  # deliveries given up (webhook)
        "retries": int(detail.get("retries", 0) or 0),
        "reconnects": int(detail.get("reconnects", 0) or 0),
        "acks_pending": max(0, sent - int(acked)) if isinstance(acked, int) else None,
    }


class RunProbe:
    """The runner's observer (runner.run(observer=...)): `begin`, `step` per step, `end`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"started": False, "done": False}
        self._sinks: dict[str, Sink] = {}
        self._pipes: dict[str, FaultPipeline] = {}
        self._series: dict[str, list[float]] = {"t": []}
        self._samples: dict[str, list[dict[str, Any]]] = {}
        self._recent: dict[str, Any] = {}  # entity: its latest changes (an Arrow slice)
        self._sampled = float("-inf")
        self._wall0 = clock()
        self._start_us = self._end_us = 0

    def snapshot(self) -> dict[str, Any]:
        """The latest figures (a copy: safe to read from any thread)."""
        with self._lock:
            return copy.deepcopy(self._state)

    # -- called by the runner, on its thread ---------------------------------------------------
    def begin(self, world: World, sinks: dict[str, Sink], pipes: dict[str, FaultPipeline]) -> None:
        self._sinks, self._pipes = sinks, pipes
        self._start_us, self._end_us = world.start_us, world.end_us
        self._wall0 = self.clock()
        self._series = {"t": [], **{name: [] for name in sinks}}
        windows = [
            {"sink": name, "fault": f.name, "start_s": s / US, "end_s": e / US}
            for name, pipe in pipes.items()
            for f in pipe.faults
            for s, e in f.down_spans()
        ]
        with self._lock:
            self._state = {
                "started": True,
                "done": False,
                "scenario": world.scenario.name,
                "seed": world.seed,
                "start_s": world.start_us / US,
                "end_s": world.end_us / US,
                "windows": windows,
            }
        self._publish(world.start_us, 0, {}, None)

    def step(self, changes: Changes, report: RunReport) -> None:
        for entity, table in changes.tables.items():
            if table.num_rows:  # a slice is a view: keeping the latest costs nothing
                self._recent[entity] = table.slice(max(0, table.num_rows - SAMPLES))
        now = self.clock()
        samples = None
        if now - self._sampled >= SAMPLE_EVERY:
            self._sampled = now
            samples = self._rows()
        self._publish(changes.end_us, report.steps, report.entities, samples)

    def end(self, report: RunReport) -> None:
        """The final figures are the run report's, so both agree to the event."""
        sinks = {
            name: sink_figures(info["kind"], info["counts"], info)
            for name, info in report.sinks.items()
        }
        for name, info in report.sinks.items():
            sinks[name]["faults"] = {
                f: fault_count(s) for f, s in info.get("faults", {}).items() if f != "delivered"
            }
        self._commit(
            self._end_us,
            report.steps,
            report.entities,
            sinks,
            self._rows(),
            report.wall_seconds,
            True,
        )

    # -- internals -----------------------------------------------------------------------------
    def _rows(self) -> dict[str, list[dict[str, Any]]]:
        """The latest changes of each entity as rows, redacted (headwater.secrets)."""
        return {
            entity: redact_data([_plain(r) for r in table.to_pylist()])
            for entity, table in self._recent.items()
        }

    def _publish(
        self,
        clock_us: int,
        steps: int,
        entities: dict[str, dict[str, int]],
        samples: dict[str, list[dict[str, Any]]] | None,
    ) -> None:
        sinks = {}
        for name, sink in self._sinks.items():
            detail = {**sink.stats.extra, "bytes": sink.stats.bytes}
            sinks[name] = sink_figures(sink.kind, sink.stats.counts, detail)
            pipe = self._pipes.get(name)
            sinks[name]["faults"] = (
                {}
                if pipe is None or pipe.clean
                else {f: fault_count(s) for f, s in pipe.summary().items() if f != "delivered"}
            )
        wall = self.clock() - self._wall0
        self._commit(clock_us, steps, entities, sinks, samples, wall, False)

    def _commit(
        self,
        clock_us: int,
        steps: int,
        entities: dict[str, dict[str, int]],
        sinks: dict[str, dict[str, Any]],
        samples: dict[str, list[dict[str, Any]]] | None,
        wall: float,
        done: bool,
    ) -> None:
        elapsed = (clock_us - self._start_us) / US
        series = self._series
        if series["t"] and len(series["t"]) >= POINTS:
            for key in series:
                series[key] = series[key][::2]
        fresh = not series["t"] or elapsed > series["t"][-1]
        if fresh:
            series["t"].append(elapsed)
        if fresh or done:  # the end's figures replace those of the last step's time
            for name in sinks:
                points = series.setdefault(name, [])
                events = sinks[name]["events"]
                if fresh or not points:
                    points.append(events)
                else:
                    points[-1] = events
        if samples:
            self._samples.update(samples)
        with self._lock:
            self._state.update(
                done=done,
                clock_s=clock_us / US,
                elapsed_s=elapsed,
                wall_s=wall,
                ratio=elapsed / wall if wall > 0 else 0.0,
                steps=steps,
                entities={e: dict(ops) for e, ops in entities.items()},
                sinks=sinks,
                series={k: list(v) for k, v in series.items()},
                samples=dict(self._samples),
            )
            for window in self._state.get("windows", []):
                window["active"] = window["start_s"] <= clock_us / US < window["end_s"]


def _plain(change: dict[str, Any]) -> dict[str, Any]:
    """A change as the row it leaves (its image before a delete), with its op, in values
    JSON can carry (timestamps, decimals and bytes as text)."""
    image = change.get("after") or change.get("before") or {}
    row = {"op": change.get("op"), **image}
    return {
        k: v if v is None or isinstance(v, str | int | float | bool) else str(v)
        for k, v in row.items()
    }
