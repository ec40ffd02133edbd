"""The live state the servers read while the world runs, fed by the change stream.

Per entity the store keeps an immutable `Snapshot`: the live rows in key order (an Arrow
table), when each row was created and last changed (simulated time, µs) with the `seq` of
that change, and tombstones of deleted rows for a retention window. The world thread builds
a new snapshot per step and swaps it in, so a request reads one consistent state without
locks, and no reader ever sees half a step. Memory follows live rows plus retained
tombstones plus the bounded change log that gRPC subscribers resume from.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.micros import US, epoch_us
from headwater.core.random import stream
from headwater.generators.base import GenContext
from headwater.serve.config import Drift
from headwater.serve.encode import row_json
from headwater.sinks.base import Sink, SinkConfig
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema

JSON_COLUMN = "_json"  # each live row as the REST API renders it (before any drift)


def np_keys(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Keys as a sortable numpy array: int64 for numbers, object for strings."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_integer(arr.type):
        return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _us(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False)


@dataclass(eq=False)
class Tombstones:
    """Deleted rows still visible to incremental sync: key order, with their last image."""

    keys: np.ndarray
    table: pa.Table
    created: np.ndarray
    deleted: np.ndarray
    seq: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(eq=False)
class Snapshot:
    """One entity's state after a step; never mutated (except its read cache)."""

    entity: str
    version: int
    clock_us: int
    keys: np.ndarray
    table: pa.Table
    created: np.ndarray
    updated: np.ndarray
    seq: np.ndarray
    dead: Tombstones
    cache: dict[Any, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: Any) -> int:
        """Index of a live key, or -1."""
        i = int(np.searchsorted(self.keys, key))
        if i < len(self.keys) and self.keys[i] == key:
            return i
        return -1


def _empty_snapshot(
    name: str, schema: pa.Schema, row_schema: pa.Schema, key_type: pa.DataType, clock_us: int
) -> Snapshot:
    empty_keys = np_keys(pa.array([], key_type))
    z = np.zeros(0, dtype=np.int64)
    dead = Tombstones(empty_keys, row_schema.empty_table(), z, z, z)
    return Snapshot(name, 0, clock_us, empty_keys, schema.empty_table(), z, z, z, dead)


class LiveStore:
    """Snapshots per entity plus a bounded log of recent changes; written by one thread."""

    def __init__(
        self,
        schemas: dict[str, EntitySchema],
        *,
        seed: int = 0,
        start_us: int = 0,
        drift: list[Drift] | tuple[Drift, ...] = (),
        tombstones_us: int = 7 * 86_400 * US,
        changes_kept: int = 100_000,
    ):
        self.schemas = schemas
        self.seed = seed
        self.drift = [d for d in drift if d.entity in schemas]
        self.tombstones_us = tombstones_us
        self.changes_kept = changes_kept
        self.table_schemas: dict[str, pa.Schema] = {}
        for name, s in schemas.items():
            fields = list(s.row_type)
            for d in self.drift:
                if d.entity == name:
                    for f, gen in d.add.items():
                        fields.append(pa.field(f, gen.arrow_type(_NoEnv())))
            fields.append(pa.field(JSON_COLUMN, pa.string()))
            self.table_schemas[name] = pa.schema(fields)
        self.clock_us = start_us
        self.version = 0
        self.position = 0  # the seq the next change will carry
        self.done = False
        self.error: BaseException | None = None
        self.snapshots: dict[str, Snapshot] = {
            n: _empty_snapshot(
                n, self.table_schemas[n], pa.schema(list(s.row_type)), s.key_type, start_us
            )
            for n, s in schemas.items()
        }
        self.log: deque[tuple[int, int, str, pa.Table]] = deque()
        self._log_rows = 0
        self.changed = threading.Condition()

    # -- writing (the world thread) -----------------------------------------------------------
    def apply(self, changes: Changes) -> None:
        """Fold one step into new snapshots and publish them together."""
        new = {}
        for entity, table in changes.tables.items():
            if entity in self.snapshots and table.num_rows:
                new[entity] = self._fold(self.snapshots[entity], table, changes.end_us)
        for entity, snap in self.snapshots.items():
            if (
                entity not in new
                and len(snap.dead)
                and snap.dead.deleted[0] < changes.end_us - self.tombstones_us
            ):
                new[entity] = self._fold(snap, None, changes.end_us)
        with self.changed:
            self.version += 1
            for snap in new.values():
                snap.version = self.version
            self.snapshots = {**self.snapshots, **new}
            self.clock_us = changes.end_us
            for entity, table in changes.tables.items():
                if entity in self.snapshots and table.num_rows:
                    seqs = table["seq"]
                    self.log.append((seqs[0].as_py(), seqs[-1].as_py(), entity, table))
                    self._log_rows += table.num_rows
                    self.position = max(self.position, seqs[-1].as_py() + 1)
            while self.log and self._log_rows - self.log[0][3].num_rows >= self.changes_kept:
                self._log_rows -= self.log.popleft()[3].num_rows
            self.changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        with self.changed:
            self.done = True
            self.error = error
            self.changed.notify_all()

    def _fold(self, old: Snapshot, table: pa.Table | None, clock_us: int) -> Snapshot:
        schema = self.schemas[old.entity]
        tschema = self.table_schemas[old.entity]
        if table is None:
            table = pa.schema(
                [("seq", pa.int64()), ("op", pa.string()), ("key", schema.key_type)]
            ).empty_table()
        n = table.num_rows
        keys = np_keys(table["key"])
        ops = table["op"].to_numpy(zero_copy_only=False) if n else np.zeros(0, dtype=object)
        is_del = ops == "d"
        if schema.write == "insert_only":
            is_del |= ops == "u"  # a closed version; the next version (op c) follows it if any
        uniq, first = np.unique(keys, return_index=True)
        _, rev = np.unique(keys[::-1], return_index=True)
        last = n - 1 - rev
        dead_mask = is_del[last] if n else np.zeros(0, dtype=bool)
        et = _us(table["event_time"]) if n else np.zeros(0, dtype=np.int64)
        seq = table["seq"].to_numpy() if n else np.zeros(0, dtype=np.int64)

        # rows of the old snapshot that this step replaced or deleted
        pos = np.searchsorted(old.keys, uniq)
        hit = pos < len(old.keys)
        hit[hit] = old.keys[pos[hit]] == uniq[hit]
        keep = np.ones(len(old.keys), dtype=bool)
        keep[pos[hit]] = False
        created_before = np.full(len(uniq), -1, dtype=np.int64)
        created_before[hit] = old.created[pos[hit]]
        created = np.where(created_before >= 0, created_before, et[first] if n else created_before)

        up = ~dead_mask
        up_idx = last[up]
        up_keys = uniq[up]
        if len(up_idx):
            after = table["after"].combine_chunks().take(pa.array(up_idx))
            cols = {f.name: after.field(i) for i, f in enumerate(schema.row_type)}
            row_cols = list(cols.values())
            cols.update(self._drift_columns(old.entity, cols, et[up_idx], seq[up_idx]))
            cols[JSON_COLUMN] = row_json(
                [f.name for f in schema.row_type], row_cols, created[up], et[up_idx]
            )
            up_table = pa.Table.from_arrays([cols[f.name] for f in tschema], schema=tschema)
        else:
            up_table = tschema.empty_table()
        live_keys = np.concatenate([old.keys[keep], up_keys])
        parts = [old.table.filter(pa.array(keep)) if not keep.all() else old.table, up_table]
        live_table = pa.concat_tables(parts)
        l_created = np.concatenate([old.created[keep], created[up]])
        l_updated = np.concatenate([old.updated[keep], et[up_idx]])
        l_seq = np.concatenate([old.seq[keep], seq[up_idx]])
        kept = int(keep.sum())
        if len(up_keys) and kept and not (up_keys[0] > live_keys[kept - 1]):
            order = np.argsort(live_keys, kind="stable")
            live_keys, l_created, l_updated, l_seq = (
                live_keys[order],
                l_created[order],
                l_updated[order],
                l_seq[order],
            )
            live_table = live_table.take(pa.array(order))
        if live_table.num_columns and live_table.column(0).num_chunks > 8:
            live_table = live_table.combine_chunks()

        # tombstones: new deletes join, expired ones and revived keys leave
        d = old.dead
        dead_idx = last[dead_mask]
        floor = clock_us - self.tombstones_us
        dkeep = d.deleted >= floor
        if len(up_keys) and len(d):
            dkeep &= ~np.isin(d.keys, up_keys)
        row_schema = pa.schema(list(schema.row_type))
        if len(dead_idx):
            before = table["before"].combine_chunks().take(pa.array(dead_idx))
            nd_table = pa.Table.from_arrays(
                [before.field(i) for i in range(len(schema.row_type))], schema=row_schema
            )
        else:
            nd_table = row_schema.empty_table()
        t_keys = np.concatenate([d.keys[dkeep], uniq[dead_mask]])
        t_table = pa.concat_tables(
            [d.table.filter(pa.array(dkeep)) if not dkeep.all() else d.table, nd_table]
        )
        t_created = np.concatenate([d.created[dkeep], created[dead_mask]])
        t_deleted = np.concatenate([d.deleted[dkeep], et[dead_idx]])
        t_seq = np.concatenate([d.seq[dkeep], seq[dead_idx]])
        if len(dead_idx) and len(d):
            order = np.argsort(t_keys, kind="stable")
            t_keys, t_created, t_deleted, t_seq = (
                t_keys[order],
                t_created[order],
                t_deleted[order],
                t_seq[order],
            )
            t_table = t_table.take(pa.array(order))
        if t_table.num_columns and t_table.column(0).num_chunks > 8:
            t_table = t_table.combine_chunks()
        dead = Tombstones(t_keys, t_table, t_created, t_deleted, t_seq)
        return Snapshot(
            old.entity, 0, clock_us, live_keys, live_table, l_created, l_updated, l_seq, dead
        )

    def _drift_columns(
        self, entity: str, cols: dict[str, pa.Array], et: np.ndarray, seq: np.ndarray
    ) -> dict[str, pa.Array]:
        """Values of fields added by drift, for rows changed at or after the drift's time."""
        out: dict[str, pa.Array] = {}
        n = len(et)
        for d in self.drift:
            if d.entity != entity or not d.add:
                continue
            at = epoch_us(d.at)
            mask = et >= at
            m = int(mask.sum())
            for f, gen in d.add.items():
                t = self.table_schemas[entity].field(f).type
                if m == 0:
                    out[f] = pa.nulls(n, t)
                    continue
                idx = pa.array(np.flatnonzero(mask))
                sub = {k: v.take(idx) for k, v in cols.items()}
                rng = stream(self.seed, "serve", "drift", entity, f, int(seq[0]) if n else 0)
                ctx = GenContext(m, rng, pa.array(et[mask]).cast(pa.timestamp("us", tz="UTC")), sub)
                values = gen.column(ctx).cast(t)
                if m == n:
                    out[f] = values
                else:
                    full = np.full(n, -1, dtype=np.int64)
                    full[mask] = np.arange(m)
                    out[f] = values.take(pa.array(full, mask=~mask))
        return out

    # -- reading -------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether the world's initial snapshot is in: before it, an empty answer would be a
        lie (a client would take "no rows" for the source's state)."""
        return self.version > 0

    def snapshot(self, entity: str) -> Snapshot:
        return self.snapshots[entity]

    def changes_from(self, position: int) -> Iterator[tuple[str, pa.Table]]:
        """Logged change tables with rows at or after `position` (seq), in step order."""
        with self.changed:
            entries = list(self.log)
        for first, last, entity, table in entries:
            if last < position:
                continue
            if first < position:
                table = table.filter(pc.greater_equal(table["seq"], position))
            yield entity, table

    def oldest_position(self) -> int:
        with self.changed:
            return self.log[0][0] if self.log else self.position

    def wait(self, version: int, timeout: float) -> int:
        """Block until the store moves past `version` (or is done); the current version."""
        with self.changed:
            if self.version <= version and not self.done:
                self.changed.wait(timeout)
            return self.version


class _NoEnv:
    """Drift fields read no other field's type (checked in config)."""

    def field_type(self, name: str) -> pa.DataType:
        raise ValueError(f"a drift field cannot read the type of '{name}'")

    def key_type(self, entity: str) -> pa.DataType:
        raise ValueError("a drift field cannot reference another entity")


class StoreConfig(SinkConfig):
    kind: str = "serve"


class StoreSink(Sink):
    """The store as the runner's sink: every step's changes go into the live state."""

    kind = "serve"
    Config = StoreConfig
    capabilities = Capabilities(
        updates=True, deletes=True, ordering=Ordering.TOTAL, exactly_once=True
    )

    def __init__(self, name: str, store: LiveStore, context: Any):
        super().__init__(name, StoreConfig(entities=list(store.schemas)), context)
        self.store = store

    def write(self, changes: Changes) -> None:
        self.store.apply(changes)
        self.stats.add(changes)
