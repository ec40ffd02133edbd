"""The one change model every sink projects: per step, per entity, an Arrow table of changes.

Columns of a change table (one row per change, sorted by `seq`):
    seq         int64      monotonic across all entities of the run
    txn         int64      transaction id; a parent and its children share one
    op          string     r (initial snapshot), c (create), u (update), d (delete)
    event_time  timestamp  when it happened in the simulated world (UTC, µs)
    key         <key type> the row's key
    before      struct     the row before the change (null for r/c)
    after       struct     the row after the change (null for d)
Within a transaction, seq order respects foreign keys: parents are created before their
children and deleted after them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.spec import TIMESTAMP

OPS = ("r", "c", "u", "d")


def change_schema(key_type: pa.DataType, row_type: pa.StructType) -> pa.Schema:
    return pa.schema(
        [
            ("seq", pa.int64()),
            ("txn", pa.int64()),
            ("op", pa.string()),
            ("event_time", TIMESTAMP),
            ("key", key_type),
            ("before", row_type),
            ("after", row_type),
        ]
    )


@dataclass(frozen=True)
class Changes:
    """Everything the world changed during one step of simulated time [start_us, end_us)."""

    step: int
    start_us: int
    end_us: int
    tables: dict[str, pa.Table] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.tables.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """entity → op → number of changes."""
        out: dict[str, dict[str, int]] = {}
        for entity, table in self.tables.items():
            if table.num_rows == 0:
                continue
            vc = pc.value_counts(table["op"]).to_pylist()
            out[entity] = {d["values"]: d["counts"] for d in vc}
        return out

    def only(self, entities: set[str] | None, ops: frozenset[str] | None = None) -> Changes:
        """The changes of `entities` (None: all), of the operations `ops` (None: all)."""
        if entities is None and ops is None:
            return self
        tables = {e: t for e, t in self.tables.items() if entities is None or e in entities}
        if ops is not None:
            wanted = pa.array(sorted(ops), pa.string())
            tables = {e: t.filter(pc.is_in(t["op"], value_set=wanted)) for e, t in tables.items()}
        return Changes(self.step, self.start_us, self.end_us, tables)

    def transactions(self) -> Iterator[list[tuple[str, int, int]]]:
        """Transactions in commit order; each lists (entity, start, stop) row ranges in seq order."""
        parts = [(e, t) for e, t in self.tables.items() if t.num_rows]
        if not parts:
            return
        seqs = np.concatenate([t["seq"].to_numpy() for _, t in parts])
        txns = np.concatenate([t["txn"].to_numpy() for _, t in parts])
        owner = np.concatenate([np.full(t.num_rows, i) for i, (_, t) in enumerate(parts)])
        rows = np.concatenate([np.arange(t.num_rows) for _, t in parts])
        order = np.argsort(seqs, kind="stable")
        txns, owner, rows = txns[order], owner[order], rows[order]
        # boundaries where the transaction or the entity changes
        cut = np.flatnonzero((txns[1:] != txns[:-1]) | (owner[1:] != owner[:-1])) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [len(txns)]])
        current: list[tuple[str, int, int]] = []
        current_txn = None
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if current and txns[s] != current_txn:
                yield current
                current = []
            current_txn = txns[s]
            entity = parts[owner[s]][0]
            current.append((entity, int(rows[s]), int(rows[s]) + e - s))
        if current:
            yield current
