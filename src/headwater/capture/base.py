"""What every capture returns: batches of change tables in the world's layout, and a position.

A `CaptureBatch` holds, per entity, a table with the columns of world/changes.py (seq, txn,
op, event_time, key, before, after), so `sinks/_project.project(table, schema, 'debezium')`
encodes captured changes exactly as it encodes simulated ones. Here:
    seq         a counter of captured changes, continued from the checkpoint, so a batch
                re-read after a crash gets the same numbers (stable event ids)
    txn         the database's transaction id (PostgreSQL xid, MariaDB GTID sequence number)
    op          r (snapshot), c, u, d
    event_time  the commit time the database logged (µs, UTC)
and, for the Debezium envelope (sinks/_project.debezium), three more:
    txn_id      Debezium's `transaction.id` (PostgreSQL `<xid>:<LSN of BEGIN>`, MariaDB GTID)
    snapshot    Debezium's `source.snapshot`: true, last (the snapshot's last event), false
    source      the connector's own `source` fields (capture.source_type), `table` included
    simulated_time  when the world made the change (µs, UTC): the source sink writes it in
                its bookkeeping row with every transaction; null for the snapshot
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.capture.checkpoint import Checkpoint
from headwater.core.spec import TIMESTAMP
from headwater.errors import SinkError
from headwater.sinks._retry import SqlRetry
from headwater.world.changes import Changes, change_schema
from headwater.world.schema import EntitySchema


@dataclass(frozen=True)
class CaptureBatch:
    """Whole committed transactions, per entity; `position` goes back to `Capture.ack()`."""

    tables: dict[str, pa.Table]
    position: dict[str, Any]
    transactions: int = 0

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.tables.values())

    def changes(self) -> Changes:
        """The batch as a world `Changes` (step -1), for code written against the world."""
        times = [pc.min(t["event_time"]) for t in self.tables.values() if t.num_rows]
        start = min((int(s.cast(pa.int64()).as_py()) for s in times), default=0)
        end = max(
            (
                int(pc.max(t["event_time"]).cast(pa.int64()).as_py())
                for t in self.tables.values()
                if t.num_rows
            ),
            default=0,
        )
        return Changes(-1, start, end + 1, dict(self.tables))


@dataclass
class CaptureStats:
    events: int = 0
    transactions: int = 0
    snapshot_rows: int = 0
    reconnects: int = 0
    polls: int = 0
    slot_rewinds: int = 0  # a crashed server forgot how far the slot was; put back exactly

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class CommitChain:
    """Proof that the log showed every transaction the source sink committed.

    The postgres and mysql sinks update their connection's row in `headwater.headwater_applied`
    (ordinal n → n+1, or n+k with commit: step) inside every transaction they commit, so the
    log holds one chain of ordinals per connection. Each update's before-image must be the
    last after-image read: a break means the log skipped transactions (a slot moved, a
    binlog lost), whatever the cause. `missing()` compares the last ordinals read with what
    the table holds, so a capture that stopped early cannot pass for a complete one.
    """

    def __init__(self, capture: str, sink: str | None, where: str, key: str | None = None):
        self.capture, self.sink, self.where = capture, sink, where
        self.key = key or sink  # the sink's rows in the table (_sql_sink.bookkeeping_key)
        self.lanes: dict[int, int] = {}  # connection → last ordinal read
        self.active = False  # whether the chains' start is known

    @staticmethod
    def ordinals(rows: Any) -> dict[int, int]:
        """(lane, ordinal) rows of the bookkeeping table, or a checkpoint's `lanes`."""
        return {int(lane): int(n) for lane, n in rows}

    def start(self, lanes: dict[Any, Any] | None) -> None:
        """Where the chains stand at the snapshot or a checkpoint; None: unknown, no proof."""
        self.active = self.sink is not None and lanes is not None
        self.lanes = self.ordinals((lanes or {}).items())

    def state(self) -> dict[str, int] | None:
        """For a position and the checkpoint (JSON keys are strings); None: no proof kept."""
        return {str(k): v for k, v in self.lanes.items()} if self.active else None

    def observe(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """One change of a bookkeeping row; raises SinkError when the chain breaks."""
        row = after or before
        if not self.active or row is None or str(row.get("sink")) != self.key:
            return
        lane = int(row["lane"])
        if after is None:  # the sink's next run starts its rows again
            self.lanes.pop(lane, None)
            return
        new, old = int(after["ordinal"]), (before or {}).get("ordinal")
        last = self.lanes.get(lane)
        if old is not None and last is not None and int(old) != last:
            raise SinkError(
                self.capture,
                f"the change log of {self.where} breaks the chain of sink '{self.sink}': after "
                f"transaction {last} of its connection {lane} it shows {old} → {new}, so "
                "transactions were skipped or repeated (the replication slot or binlog "
                "position moved without this capture); start the run again",
            )
        self.lanes[lane] = new

    def event_time(self, marks: list[tuple[Any, Any]]) -> int | None:
        """The simulated time (µs) the sink wrote in its bookkeeping with this transaction."""
        times = [
            int(after["event_time_us"])
            for _, after in marks
            if after is not None
            and str(after.get("sink")) == self.key
            and after.get("event_time_us") is not None
        ]
        return times[-1] if times else None

    def missing(self, committed: dict[int, int]) -> str | None:
        """What the log has not shown yet of the sink's `committed` ordinals, or None."""
        if not self.active:
            return None
        short = [
            f"connection {lane}: read up to transaction {self.lanes.get(lane, 0)} of {n}"
            for lane, n in sorted(committed.items())
            if self.lanes.get(lane, 0) < n
        ]
        return "; ".join(short) or None

    def incomplete(self, missing: str) -> SinkError:
        return SinkError(
            self.capture,
            f"the change log of {self.where} ends before the last transactions sink "
            f"'{self.sink}' committed ({missing}); those changes were not captured: check "
            "the server's log for a crash or a lost slot/binlog and start the run again",
        )


class Capture(ABC):
    """A reader of one database's change log (see the package docstring for the protocol)."""

    #: Debezium `source` fields (connector, name, db) for project(..., source=)
    source: dict[str, str]

    def __init__(self) -> None:
        self.stats = CaptureStats()

    @classmethod
    def start(
        cls,
        source: Any,
        schemas: dict[str, Any],
        *,
        name: str,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        batch_size: int = 10_000,
        retry: SqlRetry | None = None,
        committed_by: str | None = None,
        **options: Any,
    ) -> Capture:
        """Connect to the source sink's database, check it can be captured, and start (or
        resume); `options` are the plug-in's own (PostgreSQL `slot`, MySQL `server_id`)."""
        make: Callable[..., Capture] = cls
        capture = make(
            source,
            schemas,
            name=name,
            checkpoint=Checkpoint(checkpoint),
            resume=resume,
            batch_size=batch_size,
            retry=retry,
            committed_by=committed_by,
            **options,
        )
        return capture.open()

    @abstractmethod
    def open(self) -> Capture:
        """Connect and start (or resume) reading; raises SinkUnavailable/SinkError naming the
        capture."""

    @abstractmethod
    def snapshot(self) -> Iterator[CaptureBatch]:
        """The tables' rows as op r, consistent with where the stream starts; nothing on resume."""

    @abstractmethod
    def poll(self, timeout: float = 1.0) -> CaptureBatch:
        """Transactions committed since the last poll (waits up to `timeout`; may be empty)."""

    @abstractmethod
    def catch_up(self, timeout: float = 60.0) -> Iterator[CaptureBatch]:
        """Batches until everything committed before the call was returned."""

    @abstractmethod
    def ack(self, position: dict[str, Any]) -> None:
        """Everything up to `position` was delivered: checkpoint it, let the database forget."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; unacknowledged changes are re-read by the next capture."""

    def drop(self) -> None:  # noqa: B027 - nothing to remove for log readers without state
        """Forget this capture on the server (PostgreSQL: its slot, which holds WAL) and locally."""

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def text_to_arrow(values: list[Any] | pa.Array, t: pa.DataType) -> pa.Array:
    """Values as the database's client rendered them (text or Python objects) → type `t`."""
    if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        items = values.to_pylist() if isinstance(values, pa.Array) else values
        objs = [json.loads(v) if isinstance(v, str | bytes) else v for v in items]
        return pa.array(objs, type=t)
    if isinstance(values, pa.Array):
        arr = values
    else:
        try:
            arr = pa.array(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return _objects_to_arrow(values, t)
    if pa.types.is_boolean(t):
        truth = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(["t", "true", "1"]))
        return pc.if_else(pc.is_valid(arr), truth, pa.scalar(None, pa.bool_()))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(t)
    return pc.cast(arr, t)


def _objects_to_arrow(values: list[Any], t: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(t):
        naive = [v.replace(tzinfo=None) if getattr(v, "tzinfo", None) else v for v in values]
        return pa.array(naive, pa.timestamp("us")).cast(t)
    if pa.types.is_boolean(t):
        return pa.array([None if v is None else bool(v) for v in values], t)
    if pa.types.is_string(t):
        return pa.array([None if v is None else str(v) for v in values], t)
    return pa.array(values, type=t)


@dataclass
class ChangeBuilder:
    """Decoded row changes of one entity, collected column by column, built into a change table."""

    schema: EntitySchema
    seq: list[int] = field(default_factory=list)
    txn: list[int] = field(default_factory=list)
    op: list[str] = field(default_factory=list)
    times: list[int | str] = field(default_factory=list)  # µs, or text the database rendered
    before: dict[str, list[Any]] = field(default_factory=dict)
    after: dict[str, list[Any]] = field(default_factory=dict)
    has_before: list[bool] = field(default_factory=list)
    has_after: list[bool] = field(default_factory=list)
    txn_ids: list[str] = field(default_factory=list)
    simulated: list[int | None] = field(default_factory=list)
    source: dict[str, list[Any]] = field(default_factory=dict)  # per-event source fields

    def __post_init__(self) -> None:
        names = [f.name for f in self.schema.row_type]
        self.before = {n: [] for n in names}
        self.after = {n: [] for n in names}

    def __len__(self) -> int:
        return len(self.seq)

    def add(
        self,
        seq: int,
        txn: int,
        op: str,
        time: int | str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        txn_id: str,
        simulated: int | None,
        **source: Any,
    ) -> None:
        self.txn_ids.append(txn_id)
        self.simulated.append(simulated)
        for name, value in source.items():
            self.source.setdefault(name, []).append(value)
        self.seq.append(seq)
        self.txn.append(txn)
        self.op.append(op)
        self.times.append(time)
        for image, cols, flags in (
            (before, self.before, self.has_before),
            (after, self.after, self.has_after),
        ):
            flags.append(image is not None)
            if image is None:
                for values in cols.values():
                    values.append(None)
            else:
                for name, values in cols.items():
                    values.append(image.get(name))

    def build(self, source_type: pa.StructType, constants: dict[str, Any]) -> pa.Table:
        """The change table; `constants` are the source fields every event here shares."""
        s = self.schema
        n = len(self.seq)
        images = []
        for cols, flags in ((self.before, self.has_before), (self.after, self.has_after)):
            arrays = [text_to_arrow(cols[f.name], f.type) for f in s.row_type]
            mask = pa.array([not x for x in flags], pa.bool_())
            images.append(
                pa.StructArray.from_arrays(arrays, fields=list(s.row_type), mask=mask)
                if n
                else pa.nulls(0, s.row_type)
            )
        before, after = images
        key = pc.coalesce(after.field(s.key), before.field(s.key)) if n else pa.nulls(0, s.key_type)
        table = pa.Table.from_arrays(
            [
                pa.array(self.seq, pa.int64()),
                pa.array(self.txn, pa.int64()),
                pa.array(self.op, pa.string()),
                _times(self.times),
                key.cast(s.key_type),
                before,
                after,
            ],
            schema=change_schema(s.key_type, s.row_type),
        )
        return with_envelope(
            table,
            pa.array(self.txn_ids, pa.string()),
            pa.repeat(pa.scalar("false"), n),
            source_column(source_type, n, {**constants, **self.source}),
            pa.array(self.simulated, pa.int64()).cast(TIMESTAMP),
        )


def _times(values: list[int | str]) -> pa.Array:
    if values and isinstance(values[0], str):
        return pc.cast(pa.array(values, pa.string()), TIMESTAMP)
    return pa.array(values, pa.int64()).cast(TIMESTAMP)


def source_column(t: pa.StructType, n: int, values: dict[str, Any]) -> pa.StructArray:
    """Debezium `source` fields of `n` events: a list per event, or one value for all."""
    return pa.StructArray.from_arrays(
        [
            pa.array(v, f.type) if isinstance(v, list) else pa.repeat(pa.scalar(v, f.type), n)
            for f in t
            for v in [values.get(f.name)]
        ],
        fields=list(t),
    )


def with_envelope(
    table: pa.Table, txn_id: pa.Array, snapshot: pa.Array, source: pa.Array, simulated: pa.Array
) -> pa.Table:
    """A change table with the columns the Debezium envelope takes from the log."""
    return (
        table.append_column("txn_id", txn_id)
        .append_column("snapshot", snapshot)
        .append_column("source", source)
        .append_column("simulated_time", simulated)
    )


def last_marked(batches: Iterator[CaptureBatch]) -> Iterator[CaptureBatch]:
    """Snapshot batches with the last event's `snapshot` set to `last`, as Debezium does: a
    batch with rows is held until the next one shows whether more rows follow."""
    held: CaptureBatch | None = None
    for batch in batches:
        if not len(batch):
            if held is not None:
                ((entity, table),) = held.tables.items()
                n = table.num_rows
                flags = pa.chunked_array([table["snapshot"].slice(0, n - 1), pa.array(["last"])])
                idx = table.column_names.index("snapshot")
                tables = {entity: table.set_column(idx, "snapshot", flags)}
                yield CaptureBatch(tables, held.position, held.transactions)
                held = None
            yield batch
            continue
        if held is not None:
            yield held
        held = batch
    if held is not None:
        yield held


def snapshot_table(
    schema: EntitySchema,
    rows: pa.Table,
    first_seq: int,
    time_us: int,
    source_type: pa.StructType,
    source: dict[str, Any],
) -> pa.Table:
    """Current rows (one column per field, already typed) as op r changes; `source` holds
    the connector's source fields, the same for every snapshot event."""
    n = rows.num_rows
    after = pa.StructArray.from_arrays(
        [rows[f.name].combine_chunks().cast(f.type) for f in schema.row_type],
        fields=list(schema.row_type),
    )
    table = pa.Table.from_arrays(
        [
            pa.array(range(first_seq, first_seq + n), pa.int64()),
            pa.repeat(pa.scalar(0, pa.int64()), n),
            pa.repeat(pa.scalar("r"), n),
            pa.repeat(pa.scalar(time_us, pa.int64()), n).cast(TIMESTAMP),
            after.field(schema.key).cast(schema.key_type),
            pa.nulls(n, schema.row_type),
            after,
        ],
        schema=change_schema(schema.key_type, schema.row_type),
    )
    return with_envelope(
        table,
        pa.nulls(n, pa.string()),
        pa.repeat(pa.scalar("true"), n),
        source_column(source_type, n, {**source, "table": schema.name}),
        pa.nulls(n, TIMESTAMP),
    )
