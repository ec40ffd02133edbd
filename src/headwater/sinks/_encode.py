"""Records to message bytes, column by column: JSON, Avro and text templates.

Stream sinks send one message per record, so encoding must cost far less than the send.
JSON comes from the shared encoder in sinks/_text.py, without a Python object per row: each column becomes an array of JSON value
texts with pyarrow.compute (strings escaped and quoted, numbers as printed, timestamps ISO
8601, structs, lists and maps recursively), and one ``binary_join_element_wise`` glues the
columns of every row together. Only values no kernel can spell (binary as base64, rare
control characters) take a Python detour, and only for the rows that hold them.

Avro is built the same way, column by column (zig-zag varints and fixed-width values in
numpy, lengths and unions joined with pyarrow), on a schema derived from the Arrow type
(`avro_schema`); the bytes equal fastavro's schemaless writer's, which the tests check.
Confluent's wire format prefixes the registry's schema id.

Templates such as ``orders.{country}`` or ``devices/{device_id}/telemetry`` render one
string per record the same way: literal parts and column texts (format specs applied to
whole columns, sinks/_format.py) joined row-wise.
"""

from __future__ import annotations

import string
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._format import check_spec, format_column
from headwater.sinks._text import (
    iso_timestamps as iso_timestamps,
)
from headwater.sinks._text import to_text as text  # noqa: F401 - enc.text, for the sinks

STRING = pa.string()


# -- text of columns: shared with every sink (sinks/_text.py) -----------------------------


def _decode(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(STRING)
    return arr


def _is_binary(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    )


# -- binary arrays to Python -------------------------------------------------------------


def as_bytes(arr: pa.Array) -> list[bytes]:
    """Each value as a Python bytes object (what a client's send call takes)."""
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.binary() if pa.types.is_string(arr.type) else pa.large_binary())
    return arr.to_numpy(zero_copy_only=False).tolist()


def as_str(arr: pa.Array) -> list[str]:
    return arr.to_numpy(zero_copy_only=False).tolist()


# -- templates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A text with `{field}` placeholders, e.g. ``orders.{country}`` or
    ``{price:.2f} at {created_at:%Y-%m-%d %H:%M:%S}``.

    `{entity}` is the stream's name (the entity, or the table for CDC); any other name is a
    field of the record. A format spec after `:` means what it means to Python's format()
    (strftime for timestamps), computed column-wise (sinks/_format.py); without one the
    value's plain text is inserted. `{{` and `}}` are literal braces. A null renders as
    nothing.
    """

    source: str
    parts: tuple[tuple[str, str | None, str], ...]  # (literal, field after it or None, spec)

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[tuple[str, str | None, str]] = []
        try:
            parsed = list(string.Formatter().parse(source))
        except ValueError as exc:
            raise ValueError(f"bad template {source!r}: {exc}") from None
        for literal, name, spec, conversion in parsed:
            if name is not None:
                if not name.isidentifier():
                    raise ValueError(f"bad template {source!r}: '{{{name}}}' is not a field name")
                if conversion or (spec and "{" in spec):
                    raise ValueError(
                        f"bad template {source!r}: '{{{name}}}' takes a format spec after ':' "
                        "(e.g. {price:.2f}), not a conversion or a nested field"
                    )
                try:
                    check_spec(spec or "")
                except ValueError as exc:
                    raise ValueError(f"bad template {source!r}: {exc}") from None
            parts.append((literal, name, spec or ""))
        return cls(source, tuple(parts))

    @property
    def fields(self) -> list[str]:
        return [name for _, name, _ in self.parts if name is not None and name != "entity"]

    @property
    def constant(self) -> bool:
        return not self.fields

    @property
    def literals(self) -> str:
        """The text between the placeholders."""
        return "".join(literal for literal, _, _ in self.parts)

    @property
    def single(self) -> str | None:
        """The field when the template is exactly one placeholder without a spec."""
        if len(self.parts) == 1 and not self.parts[0][0] and not self.parts[0][2]:
            return self.parts[0][1] if self.parts[0][1] != "entity" else None
        return None

    def wildcard(self, one: str, entity: str = "") -> str:
        """The template with every field replaced by `one` (a subscription pattern)."""
        out = []
        for literal, name, spec in self.parts:
            out.append(literal)
            if name == "entity":
                out.append(format(entity, spec))
            elif name is not None:
                out.append(one)
        return "".join(out)

    def render(self, entity: str, column: Callable[[str], pa.Array], n: int) -> pa.Array | str:
        """One string per record, or a single string when no field is used.

        Raises ValueError when a field's values cannot take its spec."""
        if self.constant:
            return self.wildcard("", entity)
        pieces: list[pa.Array | str] = []
        for literal, name, spec in self.parts:
            if literal:
                pieces.append(literal)
            if name is None:
                continue
            try:
                if name == "entity":
                    pieces.append(format(entity, spec))
                else:
                    pieces.append(pc.fill_null(format_column(column(name), spec), ""))
            except ValueError as exc:
                raise ValueError(f"template {self.source!r}, field '{name}': {exc}") from None
        if all(isinstance(p, str) for p in pieces):
            return "".join(pieces)
        return pc.binary_join_element_wise(*pieces, "")


# -- Avro ------------------------------------------------------------------------------


class AvroSchemas:
    """Avro schemas derived from Arrow types; a record type is defined once, then named.

    Every field is a union with null (Arrow columns are nullable) defaulting to null.
    """

    def __init__(self, namespace: str = "headwater"):
        self.namespace = namespace
        self._named: dict[pa.DataType, str] = {}
        self._used: set[str] = set()

    def record(self, name: str, schema: pa.Schema) -> dict[str, Any]:
        return self._record(name, list(schema), top=True)

    def _record(self, name: str, fields: list[pa.Field], top: bool = False) -> dict[str, Any]:
        name = self._unique(name)
        out: dict[str, Any] = {"type": "record", "name": name}
        if top:
            out["namespace"] = self.namespace
        out["fields"] = [
            {"name": f.name, "type": self.nullable(f.type, f"{name}_{f.name}"), "default": None}
            for f in fields
        ]
        return out

    def nullable(self, t: pa.DataType, name: str) -> Any:
        """["null", T]: every Arrow value may be null (the null type is just "null")."""
        inner = self.type(t, name)
        return inner if inner == "null" else ["null", inner]

    def _unique(self, name: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "Record"
        if base[0].isdigit():
            base = "_" + base
        candidate, i = base, 1
        while candidate in self._used:
            i += 1
            candidate = f"{base}{i}"
        self._used.add(candidate)
        return candidate

    def type(self, t: pa.DataType, name: str) -> Any:
        if pa.types.is_dictionary(t):
            return self.type(t.value_type, name)
        if pa.types.is_boolean(t):
            return "boolean"
        if pa.types.is_integer(t):
            return "int" if t.bit_width <= 32 and pa.types.is_signed_integer(t) else "long"
        if pa.types.is_float16(t) or pa.types.is_float32(t):
            return "float"
        if pa.types.is_floating(t):
            return "double"
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return "string"
        if _is_binary(t):
            return "bytes"
        if pa.types.is_timestamp(t):
            logical = "timestamp-millis" if t.unit in ("s", "ms") else "timestamp-micros"
            if t.tz is None:
                logical = logical.replace("timestamp", "local-timestamp")
            return {"type": "long", "logicalType": logical}
        if pa.types.is_date(t):
            return {"type": "int", "logicalType": "date"}
        if pa.types.is_time(t):
            if t.unit in ("s", "ms"):
                return {"type": "int", "logicalType": "time-millis"}
            return {"type": "long", "logicalType": "time-micros"}
        if pa.types.is_decimal(t):
            return {
                "type": "bytes",
                "logicalType": "decimal",
                "precision": t.precision,
                "scale": t.scale,
            }
        if pa.types.is_struct(t):
            if t in self._named:
                return self._named[t]
            record = self._record(name, list(t))
            self._named[t] = record["name"]
            return record
        if pa.types.is_map(t):
            return {"type": "map", "values": self.nullable(t.item_type, name + "_value")}
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return {"type": "array", "items": self.nullable(t.value_type, name + "_item")}
        if pa.types.is_null(t):
            return "null"
        raise ValueError(f"no Avro type for Arrow type {t}")


def avro_schema(name: str, schema: pa.Schema, namespace: str = "headwater") -> dict[str, Any]:
    """The Avro record schema of a table's rows."""
    return AvroSchemas(namespace).record(name, schema)


class AvroEncoder:
    """Schemaless Avro bodies (optionally prefixed) for the rows of tables of one schema.

    Vectorized like JSON: each column becomes the Avro binary encoding of its values
    (`avro_values`), wrapped in the ["null", T] union, and the columns of a row are joined.
    The schema comes from `avro_schema` for the same Arrow schema; fastavro reads it back.
    """

    def __init__(self, schema: dict[str, Any], prefix: bytes, arrow_schema: pa.Schema):
        self.schema = schema
        self.arrow_schema = arrow_schema
        self.prefix = prefix

    def encode(self, table: pa.Table | pa.RecordBatch) -> list[bytes]:
        n = table.num_rows
        parts: list[pa.Array | bytes] = [self.prefix]
        for i in range(table.num_columns):
            parts += _avro_parts(table.column(i))
        return as_bytes(_join(parts, n))


def _join(parts: list[pa.Array | bytes], n: int) -> pa.Array:
    """Row-wise concatenation of arrays and literal bytes (adjacent literals merged first)."""
    merged: list[pa.Array | bytes] = []
    for part in parts:
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        elif not isinstance(part, bytes) or part:
            merged.append(part)
    if not any(isinstance(p, pa.Array) for p in merged):
        return pa.repeat(pa.scalar(b"".join(merged), BINARY), n)
    return pc.binary_join_element_wise(*merged, b"")


# Avro binary encoding (spec 1.11, "Binary Encoding"): int and long are zig-zag varints,
# float and double little-endian IEEE 754, bytes and string a long length then the bytes,
# a union the branch index (a long) then the value, a record its fields in order, an array
# or a map blocks of (count, items) ended by a count of 0, a bytes decimal the unscaled
# value in big-endian two's complement.
_BRANCH_NULL, _BRANCH_VALUE = b"\x00", b"\x02"  # union ["null", T]: index 0, index 1
BINARY = pa.binary()


def _avro_parts(arr: pa.Array | pa.ChunkedArray) -> list[pa.Array | bytes]:
    """A column as an Avro field of type ["null", T] (or "null"), as parts to join.

    Without nulls the union's branch is a literal (joined once with its neighbours).
    """
    arr = _decode(arr)
    if pa.types.is_null(arr.type):
        return []
    body = avro_values(arr)
    if arr.null_count == 0:
        return [_BRANCH_VALUE, body]
    valid = arr.is_valid()
    branch = pc.if_else(valid, _BRANCH_VALUE, _BRANCH_NULL)
    return [branch, pc.if_else(valid, body, b"")]


def avro_values(arr: pa.Array) -> pa.Array:
    """The Avro encoding of each value (of the type `AvroSchemas.type` gives); nulls: any."""
    arr = _decode(arr)
    t = arr.type
    n = len(arr)
    if n == 0:
        return pa.array([], BINARY)
    if pa.types.is_boolean(t):
        return pc.if_else(pc.fill_null(arr, False), b"\x01", b"\x00")
    if pa.types.is_integer(t):
        return _varints(_int64(arr))
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return _fixed(_numpy(arr, pa.float32(), 0.0).astype("<f4"))
    if pa.types.is_floating(t):
        return _fixed(_numpy(arr, pa.float64(), 0.0).astype("<f8"))
    if pa.types.is_string(t) or _is_binary(t):
        data = arr.cast(BINARY) if not pa.types.is_binary(t) else arr
        data = pc.fill_null(data, b"")
        return pc.binary_join_element_wise(_varints(_int64(pc.binary_length(data))), data, b"")
    if pa.types.is_timestamp(t):
        unit = {"s": 1_000, "ms": 1, "us": 1, "ns": 1}[t.unit]  # to ms, ms, µs, µs
        values = _int64(arr.cast(pa.timestamp(t.unit)).cast(pa.int64()))
        values = values * unit if t.unit == "s" else values // 1000 if t.unit == "ns" else values
        return _varints(values)
    if pa.types.is_date32(t):
        return _varints(_int64(arr.cast(pa.int32())))
    if pa.types.is_date64(t):
        return _varints(_int64(arr.cast(pa.int64())) // 86_400_000)
    if pa.types.is_time(t):
        values = _int64(arr.cast(pa.int64() if t.bit_width == 64 else pa.int32()))
        scale = {"s": 1_000, "ms": 1, "us": 1, "ns": 1}[t.unit]
        return _varints(
            values * scale if t.unit == "s" else values // 1000 if t.unit == "ns" else values
        )
    if pa.types.is_decimal(t):
        return _decimals(arr)
    if pa.types.is_struct(t):
        parts: list[pa.Array | bytes] = []
        for i in range(t.num_fields):
            parts += _avro_parts(arr.field(i))
        return _join(parts, n)
    if pa.types.is_map(t):
        keys = avro_values(pc.fill_null(arr.keys.cast(pa.string()), ""))
        entries = _join([keys, *_avro_parts(arr.items)], len(keys))
        return _blocks(arr, entries)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        if pa.types.is_fixed_size_list(t):
            arr = arr.cast(pa.list_(t.value_type))
        return _blocks(arr, _join(_avro_parts(arr.values), len(arr.values)))
    raise ValueError(f"no Avro encoding for Arrow type {t}")


def _numpy(arr: pa.Array, t: pa.DataType, fill: Any) -> Any:
    return pc.fill_null(arr.cast(t), fill).to_numpy(zero_copy_only=False)


def _int64(arr: pa.Array) -> Any:
    return _numpy(arr, pa.int64(), 0)


def _bit_length(x: Any) -> Any:
    """int.bit_length() of each uint64, with integer steps (floats round near 2**53)."""
    import numpy as np

    length = np.zeros(len(x), dtype=np.int64)
    x = x.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = x >= (np.uint64(1) << np.uint64(shift))
        length[big] += shift
        x[big] >>= np.uint64(shift)
    return length + (x > 0)


def _from_lengths(lengths: Any, data: Any) -> pa.Array:
    """A binary array from each value's length and all values' bytes back to back."""
    import numpy as np

    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    kind, width = (pa.binary(), np.int32) if offsets[-1] < 2**31 else (pa.large_binary(), np.int64)
    buffers = [None, pa.py_buffer(offsets.astype(width)), pa.py_buffer(np.ascontiguousarray(data))]
    out = pa.Array.from_buffers(kind, len(lengths), buffers)
    return out if kind == BINARY else out.cast(BINARY)


def _varints(values: Any) -> pa.Array:
    """Zig-zag varints of int64 values (Avro int and long)."""
    import numpy as np

    v = np.asarray(values, dtype=np.int64)
    u = ((v << 1) ^ (v >> 63)).view(np.uint64)
    count = np.maximum(1, (_bit_length(u) + 6) // 7)
    k = np.arange(10, dtype=np.uint64)
    groups = ((u[:, None] >> (np.uint64(7) * k)) & np.uint64(0x7F)).astype(np.uint8)
    groups |= ((k[None, :] < (count[:, None] - 1)) * 0x80).astype(np.uint8)
    return _from_lengths(count, groups[k[None, :] < count[:, None]])


def _fixed(values: Any) -> pa.Array:
    """Fixed-width little-endian values (float, double)."""
    import numpy as np

    width = values.dtype.itemsize
    return _from_lengths(np.full(len(values), width), values.view(np.uint8))


def _decimals(arr: pa.Array) -> pa.Array:
    """Unscaled values, big-endian two's complement, after their length (as fastavro does:
    bit_length(|v|) // 8 + 1 bytes)."""
    import numpy as np

    n = len(arr)
    raw = pc.fill_null(arr, 0).cast(pa.decimal128(38, arr.type.scale))
    words = np.frombuffer(raw.buffers()[1], dtype="<i8", count=2 * (n + raw.offset))
    words = words[2 * raw.offset :].reshape(n, 2)
    low, high = words[:, 0], words[:, 1]
    if not np.array_equal(high, low >> 63):  # beyond 64 bits: Python integers, rarely
        values = [None if d is None else int(d.scaleb(arr.type.scale)) for d in arr.to_pylist()]
        body = [
            (v or 0).to_bytes(abs(v or 0).bit_length() // 8 + 1, "big", signed=True) for v in values
        ]
        data = pa.array(body, BINARY)
        return pc.binary_join_element_wise(_varints(_int64(pc.binary_length(data))), data, b"")
    count = _bit_length(np.abs(low).view(np.uint64)) // 8 + 1
    big_endian = low.astype(">i8").view(np.uint8).reshape(n, 8)
    keep = np.arange(8)[None, :] >= (8 - count[:, None])
    return pc.binary_join_element_wise(_varints(count), _from_lengths(count, big_endian[keep]), b"")


def _blocks(arr: pa.Array, items: pa.Array) -> pa.Array:
    """Avro arrays and maps: one block (count, items) then the end marker; empty: the marker.

    `items` encodes the whole child array (lists' values, maps' entries), which the list's
    offsets index into.
    """
    import numpy as np

    offsets = np.asarray(arr.offsets, dtype=np.int64)
    counts = np.diff(offsets)
    start, stop = int(offsets[0]), int(offsets[-1])
    lists = pa.ListArray.from_arrays(
        pa.array(offsets - start, pa.int32()), items.slice(start, stop - start)
    )
    joined = pc.binary_join(lists, b"")
    block = pc.binary_join_element_wise(_varints(counts), joined, b"\x00", b"")
    return pc.if_else(pa.array(counts > 0), block, b"\x00")


def confluent_prefix(schema_id: int) -> bytes:
    """Confluent wire format: magic byte 0, then the registry's schema id (4 bytes, big end)."""
    return b"\x00" + struct.pack(">I", schema_id)


def epoch_millis(times: pa.Array) -> pa.Array:
    """Timestamps (µs) as whole milliseconds since the epoch, int64: what a broker's message
    timestamp holds (Kafka's CreateTime)."""
    us = pc.cast(times, pa.int64()).to_numpy(zero_copy_only=False)
    return pa.array(np.floor_divide(us, 1000), pa.int64())
