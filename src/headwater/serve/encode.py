"""Rows of a snapshot as JSON-ready Python values, and their JSON Schema (the values and
the JSON text come from sinks/_text, which the sinks use too).

Conversion is columnar: a page is taken from the Arrow table, timestamps and dates become
ISO-8601 strings and decimals strings (no float rounding of money) with Arrow kernels, and
only then does the page become Python dicts for `json.dumps`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.spec import TIMESTAMP
from headwater.sinks._text import ISO, json_text, jsonable

if TYPE_CHECKING:
    from headwater.serve.store import Snapshot

# One timestamp format on every protocol (REST, GraphQL, /health): RFC 3339 in UTC with
# six fractional digits, 2026-01-01T00:00:05.000000Z. gRPC carries the same instants as
# google.protobuf.Timestamp under the same names.
ISO_PY = "%Y-%m-%dT%H:%M:%S.%fZ"
META = ("_created_at", "_updated_at")


def iso_datetime(value: datetime) -> str:
    """A Python datetime in the one format (naive means UTC, as Arrow's are)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(ISO_PY)


def iso_array(us: np.ndarray) -> pa.Array:
    return pc.strftime(pa.array(us, pa.int64()).cast(TIMESTAMP), format=ISO)


def row_json(
    names: list[str], columns: list[pa.Array], created: np.ndarray, updated: np.ndarray
) -> pa.Array:
    """Each row as its JSON item text, made once when the row changes (not per request)."""
    arrays = [jsonable(c) for c in columns] + [iso_array(created), iso_array(updated)]
    rows = pa.Table.from_arrays(arrays, names=[*names, *META]).to_pylist()
    return pa.array([json_text(r) for r in rows], pa.string())


def page_json(snap: Snapshot, positions: np.ndarray) -> str:
    """A JSON array of live rows from their stored text: the hot path of every listing."""
    if len(positions) == 0:
        return "[]"
    from headwater.serve.store import JSON_COLUMN

    texts = snap.table.column(JSON_COLUMN).take(pa.array(positions)).to_pylist()
    return "[" + ",".join(texts) + "]"


def iso(us: np.ndarray) -> list[str]:
    return iso_array(us).to_pylist()


def rows(
    snap: Snapshot,
    positions: np.ndarray,
    key: str,
    columns: list[str],
    renames: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Items for positions of a view: live rows with metadata, or tombstones."""
    if len(positions) == 0:
        return []
    if (positions >= 0).all():
        return _live(snap, positions, columns, renames)
    out: list[dict[str, Any]] = [{} for _ in range(len(positions))]
    live_at = np.flatnonzero(positions >= 0)
    for i, item in zip(
        live_at.tolist(), _live(snap, positions[live_at], columns, renames), strict=True
    ):
        out[i] = item
    dead_at = np.flatnonzero(positions < 0)
    di = -1 - positions[dead_at]
    d = snap.dead
    keys = d.keys[di].tolist()
    created, deleted = iso(d.created[di]), iso(d.deleted[di])
    for j, i in enumerate(dead_at.tolist()):
        out[i] = {
            key: keys[j],
            "_deleted": True,
            "_created_at": created[j],
            "_updated_at": deleted[j],
            "_deleted_at": deleted[j],
        }
    return out


def _live(
    snap: Snapshot, positions: np.ndarray, columns: list[str], renames: dict[str, str] | None
) -> list[dict[str, Any]]:
    idx = pa.array(positions)
    table = snap.table.select(columns).take(idx)
    arrays = [jsonable(c.combine_chunks()) for c in table.columns]
    names = [renames.get(c, c) for c in columns] if renames else list(columns)
    arrays += [
        iso_array(snap.created[positions]),
        iso_array(snap.updated[positions]),
    ]
    return pa.Table.from_arrays(arrays, names=[*names, *META]).to_pylist()


def json_schema(t: pa.DataType) -> dict[str, Any]:
    """JSON Schema of one Arrow type as the API renders it."""
    if pa.types.is_boolean(t):
        return {"type": "boolean"}
    if pa.types.is_integer(t):
        return {"type": "integer", "format": "int64" if t.bit_width == 64 else "int32"}
    if pa.types.is_floating(t):
        return {"type": "number", "format": "double"}
    if pa.types.is_decimal(t):
        return {
            "type": "string",
            "format": "decimal",
            "pattern": r"^-?\d+(\.\d+)?$",
            "description": "a decimal as a JSON string with all its digits (a JSON number "
            "would be read as a float and rounded)",
        }
    if pa.types.is_timestamp(t):
        return {"type": "string", "format": "date-time"}
    if pa.types.is_date(t):
        return {"type": "string", "format": "date"}
    if pa.types.is_struct(t):
        return {
            "type": "object",
            "properties": {f.name: nullable(json_schema(f.type)) for f in t},
            "required": [f.name for f in t],
        }
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return {"type": "array", "items": nullable(json_schema(t.value_type))}
    return {"type": "string"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}
