"""Run a scenario: the world's steps flow into every sink, paced by the clock's speed."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from headwater.core.micros import US
from headwater.faults.base import FaultContext
from headwater.faults.pipeline import Delivery, FaultPipeline
from headwater.outdir import OutDir
from headwater.pacing import split, window_ends
from headwater.resolve.estimate import check_limits, estimate
from headwater.resolve.scenario import Scenario
from headwater.secrets import redact_data
from headwater.sinks import SINKS, Sink, SinkContext
from headwater.world.changes import Changes
from headwater.world.engine import World


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


class RunObserver(Protocol):
    """Watches a run from the runner's thread (headwater.observe.probe.RunProbe): `begin`
    once its sinks and faults exist, `step` after each step, `end` with the final report
    (also after a failure)."""

    def begin(
        self, world: World, sinks: dict[str, Sink], pipes: dict[str, FaultPipeline]
    ) -> None: ...

    def step(self, changes: Changes, report: RunReport) -> None: ...

    def end(self, report: RunReport) -> None: ...


def build_sinks(scenario: Scenario, world: World, out_dir: Path) -> dict[str, Sink]:
    """Instantiate the scenario's sinks (no I/O yet)."""
    context = SinkContext(world.schemas, out_dir, world.seed, scenario.name, dict(scenario.sinks))
    return {name: SINKS.get(cfg.kind)(name, cfg, context) for name, cfg in scenario.sinks.items()}


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    duration: timedelta | None = None,
    speed: str | None = None,
    out_dir: str | Path | OutDir | None = None,
    sinks: dict[str, Sink] | None = None,
    on_step: Callable[[Changes, RunReport], None] | None = None,
    ledger: bool = True,
    overwrite: bool = False,
    observer: RunObserver | None = None,
) -> RunReport:
    """Run the world to the end of its clock, writing every step into every sink.

    Each sink's faults act between the world and the sink; with `ledger`, what every sink
    is handed and what it published are appended to <out>/ledger as the run goes (see
    headwater.ledger). The output folder must be new or empty; `overwrite` replaces the
    output of an earlier run there (headwater.outdir); an OutDir is a folder already claimed.
    An `observer` sees every step before `on_step` does (headwater.observe).
    """
    if speed is not None:
        scenario = scenario.model_copy(
            update={"clock": scenario.clock.model_copy(update={"speed": speed})}
        )
    world = World(scenario, seed=seed, duration=duration)
    check_limits(estimate(world, scenario.sinks), scenario.limits)  # before anything is written
    if isinstance(out_dir, OutDir):
        folder = out_dir
    else:
        path = Path(out_dir) if out_dir is not None else Path("out") / scenario.name
        folder = OutDir.claim(path, overwrite=overwrite, scenario=scenario.name, seed=world.seed)
    out = folder.path
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
        )
        for name, sink in sinks.items():
            sink.announcer = partial(book.announce, name)
    if observer is not None:
        observer.begin(world, sinks, pipes)

    def ahead(window: list[dict[str, list[Delivery]]]) -> None:
        """The ledger gets every delivery of a window of steps before any sink does."""
        if book is not None:
            for deliveries in window:
                for name, ds in deliveries.items():
                    for delivery in ds:
                        book.record(name, delivery)
            book.flush()
        folder.note()

    taken: dict[str, dict[str, int]] = {name: {} for name in sinks}  # rows write() took

    def deliver(name: str, sink: Sink, delivery: Delivery) -> None:
        """An exception that is not a HeadwaterError (a driver error the sink did not
        translate) is a bug in the sink and stays one."""
        sink.write(delivery)
        for entity, events in delivery.events.items():
            taken[name][entity] = taken[name].get(entity, 0) + events.num_rows
        shown(name, sink)

    def shown(name: str, sink: Sink) -> None:
        """What the sink published: as it says, or all its write() calls took."""
        if book is not None and sink in opened:
            rows = sink.published()
            book.published(name, taken[name] if rows is None else rows)

    def acknowledged() -> None:
        """What brokers acknowledged meanwhile goes to the ledger, and what they lost."""
        if book is not None:
            for name, sink in sinks.items():
                book.record_acks(name, sink.take_acks())
                book.record_lost(name, sink.take_lost())

    wall0 = time.perf_counter()
    opened: list[Sink] = []
    finished = False
    closing = _Closing()
    stack = ExitStack()
    try:
        for sink in sinks.values():
            stack.callback(closing.call, sink.close)  # also when its open() fails half way
            sink.open()
            opened.append(sink)
        folder.note()
        steps, rows = (1, 0) if factor is not None else WINDOW
        for batch in _windows(world, sinks, pipes, steps, rows):
            ahead([deliveries for _, deliveries in batch])
            for changes, deliveries in batch:
                # speed only paces: the step's deliveries go out in windows of simulated time,
                # contiguous slices in the order the ledger has them
                ends = window_ends(world.start_us, changes.start_us, changes.end_us, factor)
                parts = {name: [split(d, ends) for d in ds] for name, ds in deliveries.items()}
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
                acknowledged()
                for entity, ops in changes.counts().items():
                    for op, n in ops.items():
                        report.entities[entity][op] += n
                report.steps += 1
                if observer is not None:
                    observer.step(changes, report)
                if on_step is not None:
                    on_step(changes, report)
        late = {name: pipes[name].drain() for name in sinks}  # late beyond the end of the world
        ahead([late])
        for name, sink in sinks.items():
            for delivery in late[name]:
                deliver(name, sink, delivery)
        for name, sink in sinks.items():
            sink.flush()
            shown(name, sink)
        if book is not None and (lost := book.unpublished()):
            raise RuntimeError(  # the sinks flushed: whatever they did not publish is lost
                f"the run ended with rows its sinks never published: {lost}; this is a bug"
            )
        finished = True
    except BaseException as exc:
        stack.close()
        closing.note(exc)  # the run's own error is the one raised
        raise
    finally:
        stack.close()  # every sink, in reverse order, whatever fails (again: a no-op)
        try:
            folder.note()
            for name, sink in sinks.items():
                shown(name, sink)  # also after a failure: what was published before it
            acknowledged()  # also after a failure: what the broker confirmed before it
        finally:
            faults = {name: p.summary() for name, p in pipes.items() if not p.clean}
            if book is not None:  # a sink that did not close cleanly may have lost rows
                complete = finished and not closing.errors
                book.close(complete=complete, summary={"faults": faults} if faults else None)
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
            if observer is not None:
                observer.end(report)
    closing.check()  # a run whose sinks did not close cleanly did not succeed
    return report


class _Closing:
    """Every close is attempted whatever the others do; the first error is raised, the
    others are noted on it (or on the run's own error, which wins)."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    def call(self, close: Callable[[], None]) -> None:
        try:
            close()
        except Exception as exc:
            self.errors.append(exc)

    def note(self, error: BaseException) -> None:
        for exc in self.errors:
            if exc is not error:
                error.add_note(f"also, while closing: {type(exc).__name__}: {exc}")

    def check(self) -> None:
        if self.errors:
            self.note(self.errors[0])
            raise self.errors[0]


WINDOW = (8, 250_000)  # steps and rows the ledger gets ahead of the sinks at most


def _windows(
    world: World, sinks: dict[str, Sink], pipes: dict[str, FaultPipeline], steps: int, rows: int
) -> Iterator[list[tuple[Changes, dict[str, list[Delivery]]]]]:
    """The world's steps with each sink's deliveries, up to `steps` steps or `rows` rows at
    a time (0: no limit): the ledger writes a window ahead in one flush. Counting steps and
    rows, not time, keeps its bytes the same for the same seed."""
    batch: list[tuple[Changes, dict[str, list[Delivery]]]] = []
    held = 0
    for changes in world.steps():
        deliveries = {
            name: pipes[name].deliver(changes.only(set(sink.entities), sink.ops))
            for name, sink in sinks.items()
        }
        batch.append((changes, deliveries))
        held += sum(t.num_rows for t in changes.tables.values())
        if len(batch) >= steps or (rows and held >= rows):
            yield batch
            batch, held = [], 0
    if batch:
        yield batch
