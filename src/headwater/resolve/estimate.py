"""How big a run is, from the scenario alone: steps, rows, events, memory and output.

`headwater validate` prints it; `validate` and `run` refuse a scenario estimated beyond its
`limits:` (defaults fit a laptop) with a message that gives the estimate, what drives it
and how to raise the limit. Figures are expectations of the random counts, not bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from headwater.core.micros import US
from headwater.errors import Problem, ScenarioError
from headwater.generators.states import State
from headwater.resolve.scenario import Scenario
from headwater.scenario.model import Arrivals, Limits
from headwater.sinks.base import SinkConfig
from headwater.world.engine import SNAPSHOT_BLOCK, World
from headwater.world.rates import peak_rate, rate_at

_GRID = 200_000  # instants at which a varying arrival rate is averaged
_STRING = 32.0  # bytes guessed for a variable-width value (strings, lists)
_COPIES = 4  # a step's rows live as columns, before/after images, change tables, sink input


@dataclass
class Estimate:
    """Expected size of a run. `why` names, per figure, the YAML path that drives it."""

    span_s: float
    step_s: float
    steps: int
    rows: dict[str, float] = field(default_factory=dict)  # rows created, snapshot included
    events: dict[str, float] = field(default_factory=dict)  # changes (r, c, u, d)
    live_bytes: float = 0.0  # rows the world keeps (updates, deletes, references, states)
    step_bytes: float = 0.0  # the largest step: candidates drawn and rows made
    output_bytes: float = 0.0  # row images handed to the sinks, all sinks together
    why: dict[str, tuple[str, float]] = field(default_factory=dict)  # figure → (path, share)

    @property
    def total_events(self) -> float:
        return sum(self.events.values())

    @property
    def memory(self) -> float:
        return self.live_bytes + self.step_bytes

    def lines(self) -> list[str]:
        """The estimate in a few lines, for `headwater validate`."""
        rows = ", ".join(f"{e} {_n(n)}" for e, n in self.rows.items())
        return [
            f"estimate: {_n(self.total_events)} events over {_n(self.steps)} steps of "
            f"{_s(self.step_s)}; rows: {rows}",
            f"          memory ~{_bytes(self.memory)} (live rows {_bytes(self.live_bytes)}, "
            f"largest step {_bytes(self.step_bytes)}); output ~{_bytes(self.output_bytes)} "
            "of row images",
        ]


def estimate(world: World, sinks: Mapping[str, SinkConfig]) -> Estimate:
    """The expected size of this world's run (its clock, duration override and step) into
    these sinks."""
    span_s = (world.end_us - world.start_us) / US
    step_s = world.step_us / US
    est = Estimate(span_s, step_s, -(-(world.end_us - world.start_us) // world.step_us))
    widths = {
        n: _width(s.row_type) + 8 * (len(world.states[n].side_names) + 2)
        for n, s in world.schemas.items()
    }
    made: dict[str, float] = {}  # rows made in the run (snapshot + arrivals)
    initial: dict[str, float] = {}
    per_step: dict[str, float] = {}  # rows drawn in the busiest step
    drivers: dict[str, list[tuple[str, float]]] = {"events": [], "memory": [], "step": []}
    for name in world.order:
        p = world.plans[name]
        ent = p.ent
        if p.parent is not None:
            count = (ent.parent.count.min + ent.parent.count.max) / 2  # type: ignore[union-attr]
            initial[name] = initial[p.parent] * count
            made[name] = made[p.parent] * count
            per_step[name] = per_step[p.parent] * count
            path = f"entities.{name}.parent.count"
        else:
            arrivals = _arrivals(ent.arrivals, world, span_s) if ent.arrivals else 0.0
            initial[name] = float(ent.initial)
            made[name] = initial[name] + arrivals
            per_step[name] = peak_rate(ent.arrivals) * step_s if ent.arrivals else 0.0
            path = f"entities.{name}." + ("arrivals" if arrivals >= initial[name] else "initial")
        drivers["step"].append((path, per_step[name] * widths[name]))
        versions = 2 if p.insert_only else 1  # insert-only: a change closes a row, adds one
        deleted = min(ent.deletes.rate * span_s, made[name]) if ent.deletes else 0.0
        parts = [
            (path, made[name]),
            (f"entities.{name}.updates", versions * sum(u.rate for u in ent.updates) * span_s),
            (f"entities.{name}.deletes", deleted),
            *(
                (f"entities.{name}.fields.{f}", versions * made[name] * _transitions(g, span_s))
                for f, g in p.states.items()
            ),
        ]
        drivers["events"] += parts
        est.rows[name] = made[name]
        est.events[name] = sum(n for _, n in parts)
        if world.retained(p):
            live = (made[name] - deleted) * widths[name]
            est.live_bytes += live
            drivers["memory"].append((path, live))
    est.step_bytes = _COPIES * max(
        sum(per_step[n] * widths[n] for n in world.order),
        _snapshot_chunk(world, initial)
        * max((widths[n] for n in initial if initial[n]), default=0),
    )
    for cfg in sinks.values():
        for e in cfg.entities or list(world.schemas):
            if e in est.events:
                est.output_bytes += est.events[e] * _width(world.schemas[e].row_type)
    for figure, items in drivers.items():
        total = sum(v for _, v in items)
        if total > 0:
            path, value = max(items, key=lambda i: i[1])
            est.why[figure] = (path, value / total)
    return est


def checked(scenario: Scenario) -> Estimate:
    """The scenario's estimate, refused (ScenarioError) when it passes the limits."""
    est = estimate(World(scenario), scenario.sinks)
    check_limits(est, scenario.limits)
    return est


def check_limits(est: Estimate, limits: Limits) -> None:
    """Refuse a run estimated beyond `limits`, every limit passed at once."""
    problems = []
    if est.total_events > limits.max_events:
        problems.append(
            Problem(
                "limits.max_events",
                f"the run would make about {_n(est.total_events)} changes{_because(est, 'events')}, "
                f"more than the limit of {_n(limits.max_events)}: shorten the clock or lower the "
                f"rates and counts, or raise it (limits: {{max_events: {_e(est.total_events)}}})",
            )
        )
    if est.steps > limits.max_steps:
        problems.append(
            Problem(
                "limits.max_steps",
                f"the run would take {_n(est.steps)} steps of {_s(est.step_s)} over "
                f"{_s(est.span_s)}, more than the limit of {_n(limits.max_steps)}: use a longer "
                f"clock.step or a shorter duration, or raise it "
                f"(limits: {{max_steps: {_e(est.steps)}}})",
            )
        )
    if est.memory > limits.max_memory:
        part = "step" if est.step_bytes > est.live_bytes else "memory"
        what = "the largest step" if part == "step" else "the rows the world keeps"
        problems.append(
            Problem(
                "limits.max_memory",
                f"the run would hold about {_bytes(est.memory)} in memory ({what}: "
                f"{_bytes(max(est.step_bytes, est.live_bytes))}{_because(est, part)}), more than "
                f"the limit of {_bytes(limits.max_memory)}: lower the rates, counts or initial "
                f"rows, or raise it (limits: {{max_memory: {_bytes(est.memory * 1.25)}}})",
            )
        )
    if problems:
        raise ScenarioError(problems)


# -- parts --------------------------------------------------------------------------------------
def _arrivals(arrivals: Arrivals, world: World, span_s: float) -> float:
    """Expected arrivals over the run: the mean rate on a grid of instants, times the span."""
    if arrivals.rate is not None and not arrivals.bursts:
        return arrivals.rate * span_s
    n = int(min(_GRID, max(span_s, 1)))
    t = world.start_us + ((np.arange(n) + 0.5) * (world.end_us - world.start_us) / n).astype(
        np.int64
    )
    return float(rate_at(arrivals, t, world.start_us).mean()) * span_s


def _snapshot_chunk(world: World, initial: dict[str, float]) -> float:
    """Rows of the largest snapshot chunk: `snapshot_rows` plus the block that fills it (a
    block holds whole families, so a root with many children makes it bigger)."""
    roots = [n for n, p in world.plans.items() if p.parent is None and p.ent.initial]
    block = max((world.family_rows(n) for n in roots), default=1)
    return min(sum(initial.values()), world.snapshot_rows + max(SNAPSHOT_BLOCK, block))


def _transitions(g: State, span_s: float) -> float:
    """Expected transitions per row: the state machine's path length, capped by the time
    its shortest mean delay allows in the run."""
    names = g.states()
    matrix = np.zeros((len(names), len(names)))
    delays = []
    for i, s in enumerate(names):
        t = g.state.get(s)
        if t is None:
            continue
        w = np.array(list(t.to.values()), dtype=float)
        for target, weight in zip(t.to, w / w.sum(), strict=True):
            matrix[i, names.index(target)] += weight
        d = t.after
        mean = d.mean or d.fixed or ((d.min + d.max) / 2 if d.min and d.max else None)
        delays.append(max(mean.total_seconds(), 1e-6) if mean else 1e-6)
    if not delays:
        return 0.0
    horizon = int(min(64, max(1, span_s / min(delays))))
    p = np.zeros(len(names))
    p[0] = 1.0
    moving = np.array([s in g.state for s in names])
    total = 0.0
    for _ in range(horizon):
        total += float(p[moving].sum())
        p = p @ matrix
    return total


def _width(t: pa.DataType) -> float:
    """Bytes a value of this type takes in Arrow (a guess for variable-width ones)."""
    if pa.types.is_struct(t):
        return sum(_width(f.type) for f in t)
    try:
        return max(t.bit_width / 8, 1.0)
    except ValueError:
        return _STRING


def _because(est: Estimate, figure: str) -> str:
    if figure not in est.why:
        return ""
    path, share = est.why[figure]
    return f", {share:.0%} of it from {path}"


def _n(x: float) -> str:
    return f"{x:,.0f}" if x < 1e15 else f"{x:.2e}"


def _e(x: float) -> str:
    """A limit a bit above x, short enough to type."""
    return f"{float(f'{x * 1.25:.1e}'):g}"


def _s(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds * 1e6:g}us"


def _bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if b < 1024 or unit == "PiB":
            return f"{b:.0f}{unit}" if unit == "B" else f"{b:.1f}{unit}"
        b /= 1024
    raise AssertionError
