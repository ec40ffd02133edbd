"""Live rows of one entity: an Arrow table of current values plus numpy side arrays by slot.

A slot is a row's position in the table; rows are appended in creation order, so `rowid`
(a stable creation ordinal) is sorted and `searchsorted` maps a rowid back to its slot even
after dead rows are compacted away. Memory follows live rows, not the length of the run.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NEVER = np.iinfo(np.int64).max


class EntityState:
    def __init__(self, row_type: pa.StructType, side: dict[str, np.dtype]):
        self.row_type = row_type
        self.schema = pa.schema(list(row_type))
        self._table = self.schema.empty_table()
        self._pending: list[pa.Table] = []
        self._rowid = np.zeros(0, dtype=np.int64)
        self._live = np.zeros(0, dtype=bool)
        self._side: dict[str, np.ndarray] = {k: np.zeros(0, dtype=dt) for k, dt in side.items()}
        self._appended: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        self.side_names = frozenset(side)
        self.created = 0  # rows ever created: the next rowid

    # appends are joined when next read: a snapshot of many blocks is copied once, not per block
    @property
    def rowid(self) -> np.ndarray:
        self._join()
        return self._rowid

    @property
    def live(self) -> np.ndarray:
        self._join()
        return self._live

    @property
    def side(self) -> dict[str, np.ndarray]:
        self._join()
        return self._side

    def _join(self) -> None:
        if not self._appended:
            return
        parts, self._appended = self._appended, []
        self._rowid = np.concatenate([self._rowid, *(r for r, _ in parts)])
        n = sum(len(r) for r, _ in parts)
        self._live = np.concatenate([self._live, np.ones(n, dtype=bool)])
        for k, arr in self._side.items():
            self._side[k] = np.concatenate([arr, *(s[k].astype(arr.dtype) for _, s in parts)])

    @property
    def slots(self) -> int:
        return len(self.rowid)

    @property
    def table(self) -> pa.Table:
        if self._pending:
            self._table = pa.concat_tables([self._table, *self._pending]).combine_chunks()
            self._pending = []
        return self._table

    def append(
        self, columns: dict[str, pa.Array], side: dict[str, np.ndarray], rowids: np.ndarray
    ) -> None:
        n = len(rowids)
        if n == 0:
            return
        self._pending.append(
            pa.Table.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)
        )
        self._appended.append((rowids, {k: side[k] for k in self._side}))

    def slots_of(self, rowids: np.ndarray) -> np.ndarray:
        """Slots of rows by rowid (rows must still be present)."""
        return np.searchsorted(self.rowid, rowids)

    def rows(self, slots: np.ndarray) -> pa.StructArray:
        """The current values of some rows, as a struct array (a before image)."""
        t = self.table.take(pa.array(slots, pa.int64()))
        return pa.StructArray.from_arrays(
            [t.column(i).combine_chunks() for i in range(t.num_columns)], fields=list(self.row_type)
        )

    def column(self, name: str) -> pa.Array:
        return self.table.column(name).combine_chunks()

    def replace(self, slots: np.ndarray, values: dict[str, pa.Array]) -> None:
        """Set new values on rows; `slots` must be sorted and unique, values in that order."""
        if len(slots) == 0:
            return
        table = self.table
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[slots] = True
        mask_arr = pa.array(mask)
        for name, new in values.items():
            i = table.schema.get_field_index(name)
            col = table.column(i).combine_chunks()
            table = table.set_column(
                i, table.schema.field(i), pc.replace_with_mask(col, mask_arr, new.cast(col.type))
            )
        self._table = table

    def kill(self, slots: np.ndarray) -> None:
        self.live[slots] = False

    def compact(self, keep: np.ndarray) -> None:
        """Drop rows not kept (deleted, or settled rows nobody can change or reference)."""
        if keep.all():
            return
        self._table = self.table.filter(pa.array(keep))
        self._join()
        self._rowid = self._rowid[keep]
        self._live = self._live[keep]
        for k in self._side:
            self._side[k] = self._side[k][keep]
