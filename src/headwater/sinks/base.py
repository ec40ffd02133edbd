"""The sink contract. A sink simulates one source system by projecting the world's changes.

Lifecycle: `validate()` is pure (done by `headwater validate`); `open()` connects and checks
health; `write(changes)` is called once per step of simulated time; `flush()` makes what was
written durable/visible; `close()` releases everything. Capabilities are declared as data so
the engine, faults and tests can ask what a sink does without knowing its class.

A sink that publishes later than it is written to (a file renamed into place at the end of
its interval, a transaction committed) says what it published with `published()`, and calls
`announce(proof)` right before publishing, so the ledger can tell after a crash what became
visible (see headwater.ledger.proof).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from headwater.core.spec import Spec
from headwater.faults.config import Faults
from headwater.sinks.capabilities import Capabilities
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema


class SinkConfig(Spec):
    """Options every sink shares."""

    # validators are built at first use: `faults:` is assembled from the fault registry then
    model_config = ConfigDict(defer_build=True)

    kind: str
    entities: list[str] | None = Field(
        None, description="entities this sink receives; default: all"
    )
    faults: Faults = Field(
        None, description="how this sink misbehaves: late, duplicate, drift, outage… (faults/)"
    )


@dataclass
class SinkStats:
    """What a sink wrote, per entity and op (c/u/d/r), plus bytes when it knows them."""

    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, changes: Changes) -> None:
        for entity, ops in changes.counts().items():
            for op, n in ops.items():
                self.counts[entity][op] += n

    def total(self) -> int:
        return sum(sum(ops.values()) for ops in self.counts.values())


@dataclass(frozen=True)
class SinkContext:
    """What a sink may know about the run: schemas, where outputs go, the seed."""

    schemas: dict[str, EntitySchema]
    out_dir: Path
    seed: int
    scenario_name: str
    sinks: dict[str, SinkConfig] = field(
        default_factory=dict
    )  # every sink of the scenario, by name


@dataclass(frozen=True)
class Peer:
    """Another sink of the scenario as a check sees it: what it is configured to do and what
    its kind can do, never its class."""

    config: SinkConfig
    capabilities: Capabilities


@dataclass(frozen=True)
class CheckContext:
    """What a sink's pure `check()` may read, all resolved: the entities' schemas (sound, or
    checks are not run) and every sink of the scenario by name (None: its configuration is
    invalid, which is reported on its own)."""

    name: str
    schemas: Mapping[str, EntitySchema]
    sinks: Mapping[str, Peer | None]

    def entities(self, config: SinkConfig) -> list[str]:
        """The entities a sink so configured receives, in the scenario's order."""
        wanted = config.entities
        return [e for e in self.schemas if wanted is None or e in wanted]


class Sink(ABC):
    """Base of every sink; subclasses set `kind`, `Config` and `capabilities`."""

    kind: ClassVar[str]
    Config: ClassVar[type[SinkConfig]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: The Capture plug-in ('module:Class') reading this sink's database log, for sinks that
    #: declare `log_capture` (headwater.capture); imported only when a CDC sink captures it.
    capture: ClassVar[str | None] = None
    #: What it published is what its broker acknowledged (take_acks(), by event id
    #: '<entity>-<seq>') less what the broker lost (take_lost()): after a failure the ledger
    #: counts those, not every row write() took.
    publishes_acked: ClassVar[bool] = False

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        self.name = name
        self.config = config
        self.context = context
        self.stats = SinkStats()
        self.announcer: Callable[[dict[str, Any]], None] | None = None  # the runner's ledger

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Pure cross-checks against the scenario: (path under the sink, message) pairs."""
        return []

    @property
    def entities(self) -> list[str]:
        """The entities this sink receives, parents before children."""
        wanted = self.config.entities
        return [e for e in self.context.schemas if wanted is None or e in wanted]

    @property
    def ops(self) -> frozenset[str] | None:
        """The operations (r, c, u, d) this sink carries; None: all. The runner hands it
        only those, so the ledger records only what the sink can publish."""
        return None

    def schemas(self) -> dict[str, EntitySchema]:
        return {e: self.context.schemas[e] for e in self.entities}

    def resolve(self, path: str | Path) -> Path:
        """A relative path is under the run's output folder."""
        p = Path(path)
        return p if p.is_absolute() else self.context.out_dir / p

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect, create what is missing, check health."""

    @abstractmethod
    def write(self, changes: Changes) -> None:
        """Deliver one step's changes (already filtered to this sink's entities and ops)."""

    def write_records(self, records: Any) -> None:
        """Transports (`carries_records`) deliver projected Records; see sinks/_project.py."""
        raise NotImplementedError(f"sink kind '{self.kind}' does not carry records")

    def advance(self, until_us: int) -> None:  # noqa: B027 - optional hook
        """Simulated time reached `until_us` (µs): publish what is due (files of ended intervals)."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Make everything written so far durable and visible."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files. Safe after a failed or missing open() and when
        called twice: attributes it releases are set (None) in __init__, not guarded."""

    def published(self) -> dict[str, int] | None:
        """Rows per entity made visible so far, counted in the order they were written; None
        when everything a write() accepted is visible once it returns."""
        return None

    def announce(self, proof: dict[str, Any]) -> None:
        """Call right before publishing: the ledger writes what this sink was handed so far
        with `proof` (a file about to be renamed into place, a database's bookkeeping row)."""
        if self.announcer is not None:
            self.announcer(proof)

    def take_lost(self) -> list[dict[str, Any]] | None:
        """What the broker lost after acknowledging it, noticed since the last call: records
        for the ledger (ledger/lost.py), or None."""
        return None

    def take_acks(self) -> Any:
        """What a broker acknowledged since the last call, per message, for the ledger: a
        pyarrow Table (see sinks/_stream/acks.py ACK_SCHEMA), or None for sinks without acks."""
        return None
