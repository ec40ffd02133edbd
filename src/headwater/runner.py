"""Run a scenario: the world's steps flow into every sink, paced by the clock's speed."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.errors import HeadwaterError, SinkError
from headwater.faults.base import FaultContext
from headwater.faults.pipeline import Delivery, FaultPipeline
from headwater.pacing import split, window_ends
from headwater.scenario.model import Scenario
from headwater.secrets import redact_data
from headwater.sinks import SINKS, Sink, SinkContext
from headwater.world.changes import Changes
from headwater.world.engine import World
from headwater.world.estimate import check_limits, estimate
from headwater.world.rates import US


@dataclass
class RunReport:
    """What a run produced: per entity and per sink, how many of each op; time covered."""

    scenario: str
    seed: int
    out_dir: Path
    simulated: timedelta
    wall_seconds: float = 0.0
    entities: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: int = 0

    @property
    def events(self) -> int:
        return sum(sum(ops.values()) for ops in self.entities.values())

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "out_dir": str(self.out_dir),
            "simulated_seconds": self.simulated.total_seconds(),
            "wall_seconds": round(self.wall_seconds, 3),
            "events": self.events,
            "events_per_second": round(self.events_per_second, 1),
            "entities": {e: dict(ops) for e, ops in self.entities.items()},
            "sinks": self.sinks,
        }


def build_sinks(scenario: Scenario, world: World, out_dir: Path) -> dict[str, Sink]:
    """Instantiate the scenario's sinks (no I/O yet)."""
    context = SinkContext(
        world.schemas, out_dir, world.seed, scenario.name, dict(scenario.sink_configs())
    )
    return {
        name: SINKS.get(cfg.kind)(name, cfg, context)
        for name, cfg in scenario.sink_configs().items()
    }


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    duration: timedelta | None = None,
    speed: str | None = None,
    out_dir: str | Path | None = None,
    sinks: dict[str, Sink] | None = None,
    on_step: Callable[[Changes, RunReport], None] | None = None,
    ledger: bool = True,
) -> RunReport:
    """Run the world to the end of its clock, writing every step into every sink.

    Each sink's faults act between the world and the sink; with `ledger`, what every sink
    accepted is appended to <out>/ledger as the run goes (see headwater.ledger).
    """
    if speed is not None:
        scenario = scenario.model_copy(
            update={"clock": scenario.clock.model_copy(update={"speed": speed})}
        )
    world = World(scenario, seed=seed, duration=duration)
    check_limits(estimate(world), scenario.limits)  # before anything is written
    out = Path(out_dir) if out_dir is not None else Path("out") / scenario.name
    out.mkdir(parents=True, exist_ok=True)
    sinks = build_sinks(scenario, world, out) if sinks is None else sinks
    report = RunReport(
        scenario.name, world.seed, out, timedelta(microseconds=world.end_us - world.start_us)
    )
    factor = scenario.clock.factor
    pipes = {
        name: FaultPipeline(
            name,
            sink.config.faults,
            FaultContext(name, world.seed, sink.schemas(), world.start_us, world.end_us),
        )
        for name, sink in sinks.items()
    }
    book = None
    if ledger:
        from headwater.ledger import LedgerWriter

        book = LedgerWriter.for_run(
            out / "ledger",
            scenario=scenario.name,
            seed=world.seed,
            start_us=world.start_us,
            end_us=world.end_us,
            sinks=sinks,
            flush_steps=1 if factor is not None else 8,  # paced runs: every step
        )

    def deliver(name: str, sink: Sink, delivery: Delivery) -> None:
        try:
            sink.write(delivery)
        except HeadwaterError:
            raise
        except Exception as exc:  # a driver error the sink did not translate
            raise SinkError(sink.name, f"{type(exc).__name__}: {exc}") from exc
        if book is not None:
            book.record(name, delivery)

    def acknowledged() -> None:
        """What brokers acknowledged meanwhile goes to the ledger."""
        if book is not None:
            for name, sink in sinks.items():
                book.record_acks(name, sink.take_acks())

    wall0 = time.perf_counter()
    opened: list[Sink] = []
    finished = False
    try:
        for sink in sinks.values():
            sink.open()
            opened.append(sink)
        for changes in world.steps():
            # speed only paces: the step's deliveries go out in windows of simulated time
            ends = window_ends(world.start_us, changes.start_us, changes.end_us, factor)
            parts = {
                name: [split(d, ends) for d in pipes[name].deliver(changes.only(set(s.entities)))]
                for name, s in sinks.items()
            }
            for window, end in enumerate(ends):
                if factor is not None:
                    delay = (end - world.start_us) / US / factor - (time.perf_counter() - wall0)
                    if delay > 0:
                        time.sleep(delay)
                for name, sink in sinks.items():
                    for pieces in parts[name]:
                        piece = pieces[window]
                        if piece is not None:
                            deliver(name, sink, piece)
            if book is not None:
                acknowledged()
                book.tick()
            for entity, ops in changes.counts().items():
                for op, n in ops.items():
                    report.entities[entity][op] += n
            report.steps += 1
            if on_step is not None:
                on_step(changes, report)
        for name, sink in sinks.items():
            for delivery in pipes[name].drain():  # late beyond the end of the world
                deliver(name, sink, delivery)
        for sink in sinks.values():
            sink.flush()
        finished = True
    finally:
        for sink in reversed(opened):
            sink.close()
        acknowledged()  # also after a failure: what the broker confirmed before it
        faults = {name: p.summary() for name, p in pipes.items() if not p.clean}
        if book is not None:
            book.close(complete=finished, summary={"faults": faults} if faults else None)
        report.wall_seconds = time.perf_counter() - wall0
        for name, sink in sinks.items():
            report.sinks[name] = {
                "kind": sink.kind,
                "counts": {e: dict(ops) for e, ops in sink.stats.counts.items()},
                "bytes": sink.stats.bytes,
                **redact_data(sink.stats.extra),  # a sink's detail may quote a URL or error
            }
            if name in faults:
                report.sinks[name]["faults"] = redact_data(faults[name])
    return report
