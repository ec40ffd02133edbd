"""Current rows of an entity, maintained from its change stream (snapshots, APIs, replicas)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def last_per_key(changes: pa.Table) -> pa.Table:
    """The last change of every key (by seq): what an incremental extract reports."""
    if changes.num_rows == 0:
        return changes
    latest = changes.group_by("key").aggregate([("seq", "max")]).rename_columns(["key", "seq"])
    mask = pc.is_in(changes["seq"], value_set=latest["seq"])
    return changes.filter(mask)


class LiveTable:
    """The rows a CRUD entity has now: applies r/c/u/d change tables in seq order."""

    def __init__(self, schema: pa.Schema, key: str):
        self.schema, self.key = schema, key
        self.rows = schema.empty_table()

    def apply(self, changes: pa.Table) -> None:
        if changes.num_rows == 0:
            return
        last = last_per_key(changes)
        keep = pc.invert(pc.is_in(self.rows[self.key], value_set=last["key"].combine_chunks()))
        alive = last.filter(pc.not_equal(last["op"], "d"))
        after = alive["after"].combine_chunks()
        new = pa.Table.from_arrays([after.field(f.name) for f in self.schema], schema=self.schema)
        self.rows = pa.concat_tables([self.rows.filter(keep), new]).combine_chunks()
