"""The fault contract and the in-flight frame faults act on.

A sink's change stream passes through its faults in two stages:
    arrive   when the world produces a change: its delivery (ingestion) time is decided
             (skew, late, reorder, duplicate, outage) and it waits in a bounded buffer;
    emit     when its delivery time comes: its representation is decided (zones, drift,
             malformed) and the sink receives it.
A frame is a change table (world/changes.py) plus private columns:
    _time    int64   true event time (µs); `event_time` may be skewed
    _ingest  int64   delivery (ingestion) time (µs)
    _flags   uint16  fault bits (LATE, REORDER, DUPLICATE, OUTAGE, MALFORMED)
    _copy    int8    0 for the original delivery, 1 for a redelivered duplicate
    _kind    string  malformed kind, null when intact
Every random choice comes from (seed, sink, fault, entity, step), so the same seed gives the
same faults however the run is split.
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BeforeValidator

from headwater._plugins import suggest
from headwater.core.random import stream
from headwater.core.spec import Spec
from headwater.world.schema import EntitySchema

LATE, REORDER, DUPLICATE, OUTAGE, MALFORMED = 1, 2, 4, 8, 16
LABELS = {LATE: "late", REORDER: "reorder", DUPLICATE: "duplicate", OUTAGE: "outage"}

Loc = tuple[str | int, ...]

T = TypeVar("T")


def _one_or_many(v: Any) -> Any:
    return [v] if isinstance(v, dict) else v


# A list of mappings in YAML, where one mapping alone is a list of one (`outage:`, `drift:`).
OneOrMany = Annotated[list[T], BeforeValidator(_one_or_many)]


@dataclass(frozen=True)
class FaultContext:
    """What a fault may know: its sink, the seed, the entities' schemas and the run's span."""

    sink: str
    seed: int
    schemas: dict[str, EntitySchema]
    start_us: int
    end_us: int


@dataclass(frozen=True)
class Part:
    """A slice of delivery time [start_us, end_us) emitted together (one schema version)."""

    step: int
    index: int
    start_us: int
    end_us: int


class Fault(ABC):
    """A seeded transform of one sink's frames; subclasses override arrive() or emit().

    A fault brings what the scenario needs to know about it: its YAML model (`Config`, one
    field of `faults:`), a line describing it, whether a sink that applies changes as keyed
    transactions must refuse it, and its cross-checks against the sink's entities.
    """

    name: ClassVar[str]
    stage: ClassVar[Literal["arrive", "emit"]]
    order: ClassVar[int]  # position within its stage
    Config: ClassVar[type[Spec]]  # the model of `faults.<name>`
    about: ClassVar[str]  # what it does, in a few words (the field's description)
    many: ClassVar[bool] = (
        False  # `faults.<name>` is a list of Config; one mapping is a list of one
    )
    # It changes which changes a sink sees, when, or how they read: a sink that applies changes
    # as transactions with keys (sql) refuses it, since there it would only break constraints.
    stream_only: ClassVar[bool] = True

    @classmethod
    def check(cls, config: Any, schemas: dict[str, EntitySchema]) -> list[tuple[Loc, str]]:
        """Problems of this fault's config against the sink's entities (paths under it)."""
        return []

    def __init__(self, config: Any, ctx: FaultContext):
        self.config = config
        self.ctx = ctx
        self.counts: dict[str, int] = {}

    def rng(self, *names: object) -> np.random.Generator:
        return stream(self.ctx.seed, "fault", self.ctx.sink, self.name, *names)

    def pick(
        self, entity: str, frame: Any, step: int
    ) -> tuple[np.random.Generator, np.ndarray] | None:
        """The rows this fault hits in a frame, each with probability `config.rate`, and the
        random stream to go on with; None when it hits none."""
        n = frame.num_rows
        rate = self.config.rate
        if n == 0 or rate == 0:
            return None
        rng = self.rng(entity, step)
        mask = rng.random(n) < rate
        return (rng, mask) if mask.any() else None

    def count(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + int(n)

    def arrive(self, entity: str, frame: pa.Table, step: int) -> pa.Table:
        return frame

    def emit(self, entity: str, frame: pa.Table, part: Part) -> pa.Table:
        return frame

    def boundaries(self) -> list[int]:
        """Delivery times (µs) where the representation changes (drift): parts split there."""
        return []

    def version(self, entity: str, at_us: int) -> int | None:
        """The schema version of an entity's records delivered at `at_us`, for a fault whose
        role is to version the schema (drift); None for the others."""
        return None

    def down(self, start_us: int, end_us: int) -> bool:
        """Whether the source is down for the whole of [start, end), for a fault whose role is
        to take it away (outage); False for the others."""
        return False

    def down_spans(self) -> list[tuple[int, int]]:
        """The [start, end) µs windows in which this fault takes the source away."""
        return []

    def summary(self) -> dict[str, Any]:
        return dict(self.counts)


# -- frame helpers ----------------------------------------------------------------------------
def enter(table: pa.Table) -> pa.Table:
    """A change table as a frame: delivery at event time, no faults yet."""
    n = table.num_rows
    t = pc.cast(table["event_time"], pa.int64())
    return (
        table.append_column("_time", t)
        .append_column("_ingest", t)
        .append_column("_flags", pa.array(np.zeros(n, dtype=np.uint16)))
        .append_column("_copy", pa.array(np.zeros(n, dtype=np.int8)))
        .append_column("_kind", pa.nulls(n, pa.string()))
    )


def numpy(frame: pa.Table, name: str) -> np.ndarray:
    """A private numeric column as a writable numpy array."""
    return frame[name].to_numpy().copy()


def put(frame: pa.Table, name: str, values: Any) -> pa.Table:
    """Replace (or add) a column."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    i = frame.schema.get_field_index(name)
    if i < 0:
        return frame.append_column(name, arr)
    return frame.set_column(i, pa.field(name, arr.type), arr)


def flag(frame: pa.Table, mask: np.ndarray, bit: int) -> pa.Table:
    flags = numpy(frame, "_flags")
    flags[mask] |= bit
    return put(frame, "_flags", flags)


def labels(flags: np.ndarray, kinds: pa.Array) -> pa.Array:
    """'late,duplicate', 'malformed:truncate'… per row; null when nothing happened."""
    from headwater.faults.malformed import KINDS

    kind_at = pc.index_in(kinds, value_set=pa.array(KINDS)).fill_null(-1).to_numpy()
    code = np.asarray(flags, dtype=np.int64) * 8 + (kind_at + 1)
    uniq, inverse = np.unique(code, return_inverse=True)
    names = [_label(int(c) // 8, KINDS[c % 8 - 1] if c % 8 else None) for c in uniq.tolist()]
    return pa.array(names, pa.string()).take(pa.array(inverse.ravel()))


def _label(f: int, kind: str | None) -> str | None:
    parts = [name for bit, name in LABELS.items() if f & bit]
    if f & MALFORMED:
        parts.append(f"malformed:{kind}" if kind else "malformed")
    return ",".join(parts) or None


def image(frame: pa.Table) -> pa.Array:
    """The after image, or the before image for deletes (what the change says the row is)."""
    after = frame["after"].combine_chunks()
    is_delete = pc.equal(frame["op"], "d").combine_chunks()
    if frame.num_rows == 0 or not pc.any(is_delete).as_py():
        return after
    return pc.if_else(is_delete, frame["before"].combine_chunks(), after)


def map_struct(arr: pa.Array, fn: Any) -> pa.Array:
    """Rebuild a struct array from fn(list of (name, child)) → list of (name, child); nulls kept."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    children = list(zip([f.name for f in arr.type], arr.flatten(), strict=True))
    out = fn(children)
    mask = arr.is_null() if arr.null_count else None
    if not out:
        return pa.nulls(len(arr), pa.struct([]))
    names = [n for n, _ in out]
    return pa.StructArray.from_arrays([c for _, c in out], names=names, mask=mask)


def timestamp_fields(schema: EntitySchema) -> list[str]:
    return [f.name for f in schema.row_type if pa.types.is_timestamp(f.type)]


def unknown_timestamp_fields(
    fields: list[str] | None, schemas: dict[str, EntitySchema]
) -> list[tuple[Loc, str]]:
    """A fault's `fields:` that name no timestamp field of the sink's entities."""
    if fields is None:
        return []
    known = {f for s in schemas.values() for f in timestamp_fields(s)}
    return [
        (("fields", i), f"no timestamp field '{f}' in this sink's entities{suggest(f, known)}")
        for i, f in enumerate(fields)
        if f not in known
    ]


def equal_weights(value: Any, what: str) -> Any:
    """`[a, b]` (or `a`) → `{a: 1, b: 1}`: the short form of a weighted choice of names; a
    mapping passes on to be validated as one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value
    if not all(isinstance(k, str) for k in value):
        raise ValueError(f"expected {what} as text, a list of them or a mapping to weights")
    return dict.fromkeys(value, 1.0)
