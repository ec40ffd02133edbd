"""Records to message bytes, column by column: JSON, Avro and text templates.

Stream sinks send one message per record, so encoding must cost far less than the send.
JSON is built without a Python object per row: each column becomes an array of JSON value
texts with pyarrow.compute (strings escaped and quoted, numbers as printed, timestamps ISO
8601, structs, lists and maps recursively), and one ``binary_join_element_wise`` glues the
columns of every row together. Only values no kernel can spell (binary as base64, rare
control characters) take a Python detour, and only for the rows that hold them.

Avro uses fastavro's schemaless writer, one call per record, on a schema derived from the
Arrow type (`avro_schema`); Confluent's wire format prefixes the schema id.

Templates such as ``orders.{country}`` or ``devices/{device_id}/telemetry`` render one
string per record the same way: literal parts and column texts joined row-wise.
"""

from __future__ import annotations

import base64
import io
import json
import string
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

STRING = pa.string()
NULL = "null"

# RE2 patterns, tested before rewriting so clean columns cost one scan.
_JSON_SPECIAL = r'["\\\x00-\x1f]'
_JSON_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


# -- text of scalar columns ------------------------------------------------------------


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


def iso_timestamps(arr: pa.Array) -> pa.Array:
    """ISO 8601 text (2026-01-01T00:00:00.000000Z); zone-aware values are written in UTC."""
    naive = _iso_naive(arr)
    return pc.binary_join_element_wise(naive, "Z", "") if arr.type.tz is not None else naive


def _iso_naive(arr: pa.Array) -> pa.Array:
    """ISO 8601 text without the zone suffix.

    Casting a zone-aware timestamp to string consults the time-zone database per value;
    the naive view holds the same UTC wall clock, so we cast that (and callers add 'Z').
    """
    t = arr.type
    naive = arr.cast(pa.timestamp(t.unit)) if t.tz is not None else arr
    return pc.utf8_replace_slice(pc.cast(naive, STRING), 10, 11, "T")


def _base64(arr: pa.Array) -> pa.Array:
    values = [None if v is None else base64.b64encode(v).decode("ascii") for v in arr.to_pylist()]
    return pa.array(values, STRING)


def text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One plain string per value, nulls kept: the form used in keys, subjects and templates.

    Strings as they are, numbers as pyarrow prints them, timestamps ISO 8601, binary as
    base64, nested values as JSON.
    """
    arr = _decode(arr)
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_timestamp(t):
        return iso_timestamps(arr)
    if _is_binary(t):
        return _base64(arr)
    if pa.types.is_nested(t):
        return pc.if_else(arr.is_null(), pa.scalar(None, STRING), json_values(arr))
    if pa.types.is_null(t):
        return pa.nulls(len(arr), STRING)
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    try:
        return pc.cast(arr, STRING)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], STRING)


# -- JSON ------------------------------------------------------------------------------


def json_strings(arr: pa.Array) -> pa.Array:
    """JSON string literals (quoted, escaped); nulls stay null."""
    if pc.any(pc.match_substring_regex(arr, _JSON_SPECIAL)).as_py():
        rare = pc.fill_null(pc.match_substring_regex(arr, _JSON_RARE_CONTROL), False)
        escaped = pc.replace_substring(arr, "\\", "\\\\")
        escaped = pc.replace_substring(escaped, '"', '\\"')
        escaped = pc.replace_substring(escaped, "\n", "\\n")
        escaped = pc.replace_substring(escaped, "\r", "\\r")
        escaped = pc.replace_substring(escaped, "\t", "\\t")
        if pc.any(rare).as_py():
            # Other control characters need \uXXXX: Python escapes those few rows.
            originals = arr.filter(rare).to_pylist()
            fixed = pa.array([json.dumps(v, ensure_ascii=False)[1:-1] for v in originals], STRING)
            escaped = pc.replace_with_mask(escaped, rare, fixed)
        arr = escaped
    return pc.binary_join_element_wise('"', arr, '"', "")


def _or_null(arr: pa.Array, texts: pa.Array) -> pa.Array:
    """`texts` where `arr` is valid, the JSON literal null elsewhere."""
    if arr.null_count == 0:
        return texts
    return pc.if_else(arr.is_valid(), texts, NULL)


def json_values(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The JSON text of every value (never null: a null value is the literal `null`)."""
    arr = _decode(arr)
    t = arr.type
    if len(arr) == 0:
        return pa.array([], STRING)
    if pa.types.is_null(t):
        return pa.repeat(pa.scalar(NULL), len(arr))
    if pa.types.is_struct(t):
        return _json_struct(arr)
    if pa.types.is_map(t):
        return _json_map(arr)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _json_list(arr)
    if pa.types.is_boolean(t):
        texts = pc.if_else(arr, "true", "false")
    elif pa.types.is_floating(t):
        # JSON cannot spell NaN or infinity; they are written as null.
        finite = pc.is_finite(arr)
        texts = pc.if_else(finite, pc.cast(arr.cast(pa.float64()), STRING), NULL)
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        texts = pc.cast(arr, STRING)
    else:
        texts = json_strings(text(arr))
    return pc.fill_null(texts, NULL)


def _json_parts(arr: pa.Array | pa.ChunkedArray) -> tuple[str, pa.Array, str]:
    """A column's JSON as (text before, value texts, text after).

    Strings and timestamps without nulls or characters to escape leave their quotes (and
    the 'Z') to the literal text around them, which saves one pass over the column.
    """
    arr = _decode(arr)
    t = arr.type
    if arr.null_count == 0 and len(arr):
        if (
            pa.types.is_string(t)
            and not pc.any(pc.match_substring_regex(arr, _JSON_SPECIAL)).as_py()
        ):
            return '"', arr, '"'
        if pa.types.is_timestamp(t):
            return '"', _iso_naive(arr), 'Z"' if t.tz is not None else '"'
    return "", json_values(arr), ""


def _struct_texts(fields: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """`{"a":…,"b":…}` per row from (name, column) pairs."""
    if not fields or n == 0:
        return pa.repeat(pa.scalar("{}"), n) if n else pa.array([], STRING)
    parts: list[pa.Array | str] = []
    literal = ""
    for i, (name, column) in enumerate(fields):
        before, values, after = _json_parts(column)
        literal += ("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":" + before
        parts += [literal, values]
        literal = after
    parts.append(literal + "}")
    return pc.binary_join_element_wise(*parts, "")


def _json_struct(arr: pa.StructArray) -> pa.Array:
    fields = [(f.name, arr.field(i)) for i, f in enumerate(arr.type)]
    return _or_null(arr, _struct_texts(fields, len(arr)))


def _json_list(arr: pa.Array) -> pa.Array:
    if pa.types.is_fixed_size_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    items = json_values(arr.values)
    lists = type(arr).from_arrays(arr.offsets, items, mask=arr.is_null())
    joined = pc.binary_join(lists, ",")
    return _or_null(arr, pc.binary_join_element_wise("[", joined, "]", ""))


def _json_map(arr: pa.MapArray) -> pa.Array:
    keys = json_strings(pc.fill_null(text(arr.keys), ""))
    pairs = pc.binary_join_element_wise(keys, ":", json_values(arr.items), "")
    lists = pa.ListArray.from_arrays(arr.offsets, pairs, mask=arr.is_null())
    joined = pc.binary_join(lists, ",")
    return _or_null(arr, pc.binary_join_element_wise("{", joined, "}", ""))


def json_objects(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """One JSON object per row of `table` (a string array without nulls)."""
    fields = [(name, table.column(i)) for i, name in enumerate(table.schema.names)]
    return _struct_texts(fields, table.num_rows)


# -- binary arrays to Python -------------------------------------------------------------


def as_bytes(arr: pa.Array) -> list[bytes]:
    """Each value as a Python bytes object (what a client's send call takes)."""
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.binary() if pa.types.is_string(arr.type) else pa.large_binary())
    return arr.to_numpy(zero_copy_only=False).tolist()  # type: ignore[no-any-return]


def as_str(arr: pa.Array) -> list[str]:
    return arr.to_numpy(zero_copy_only=False).tolist()  # type: ignore[no-any-return]


# -- templates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A text with `{field}` placeholders, e.g. ``orders.{country}``.

    `{entity}` is the stream's name (the entity, or the table for CDC); any other name is a
    field of the record. No format specs: the value's plain text is inserted.
    """

    source: str
    parts: tuple[tuple[str, str | None], ...]  # (literal, field after it or None)

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(source))
        except ValueError as exc:
            raise ValueError(f"bad template {source!r}: {exc}") from None
        for literal, name, spec, conversion in parsed:
            if name is not None:
                if not name.isidentifier():
                    raise ValueError(f"bad template {source!r}: '{{{name}}}' is not a field name")
                if spec or conversion:
                    raise ValueError(
                        f"bad template {source!r}: '{{{name}}}' takes no format options"
                    )
            parts.append((literal, name))
        return cls(source, tuple(parts))

    @property
    def fields(self) -> list[str]:
        return [name for _, name in self.parts if name is not None and name != "entity"]

    @property
    def constant(self) -> bool:
        return not self.fields

    def wildcard(self, one: str, entity: str = "") -> str:
        """The template with every field replaced by `one` (a subscription pattern)."""
        out = []
        for literal, name in self.parts:
            out.append(literal)
            if name == "entity":
                out.append(entity)
            elif name is not None:
                out.append(one)
        return "".join(out)

    def render(self, entity: str, column: Callable[[str], pa.Array], n: int) -> pa.Array | str:
        """One string per record, or a single string when no field is used."""
        if self.constant:
            return self.wildcard("", entity)
        pieces: list[pa.Array | str] = []
        for literal, name in self.parts:
            if literal:
                pieces.append(literal)
            if name == "entity":
                pieces.append(entity)
            elif name is not None:
                pieces.append(pc.fill_null(text(column(name)), ""))
        if all(isinstance(p, str) for p in pieces):
            return "".join(pieces)  # type: ignore[arg-type]
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
            {
                "name": f.name,
                "type": ["null", self.type(f.type, f"{name}_{f.name}")],
                "default": None,
            }
            for f in fields
        ]
        return out

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
            return {"type": "map", "values": ["null", self.type(t.item_type, name + "_value")]}
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return {"type": "array", "items": ["null", self.type(t.value_type, name + "_item")]}
        if pa.types.is_null(t):
            return "null"
        raise ValueError(f"no Avro type for Arrow type {t}")


def avro_schema(name: str, schema: pa.Schema, namespace: str = "headwater") -> dict[str, Any]:
    """The Avro record schema of a table's rows."""
    return AvroSchemas(namespace).record(name, schema)


class AvroEncoder:
    """Schemaless Avro bodies for the rows of tables of one schema (fastavro)."""

    def __init__(self, schema: dict[str, Any], prefix: bytes, arrow_schema: pa.Schema):
        from fastavro import parse_schema

        self.schema = schema
        self.arrow_schema = arrow_schema
        self.parsed = parse_schema(schema)
        self.prefix = prefix

    def encode(self, table: pa.Table | pa.RecordBatch) -> list[bytes]:
        from fastavro import schemaless_writer

        out: list[bytes] = []
        buf = io.BytesIO()
        prefix = self.prefix
        for record in _rows(table):
            buf.seek(0)
            buf.truncate()
            buf.write(prefix)
            schemaless_writer(buf, self.parsed, record)
            out.append(buf.getvalue())
        return out


def _rows(table: pa.Table | pa.RecordBatch) -> Iterator[dict[str, Any]]:
    # Maps arrive from Arrow as lists of pairs; Avro wants dicts.
    maps = [f.name for f in table.schema if pa.types.is_map(f.type)]
    for row in table.to_pylist():
        for name in maps:
            if row[name] is not None:
                row[name] = dict(row[name])
        yield row


def confluent_prefix(schema_id: int) -> bytes:
    """Confluent wire format: magic byte 0, then the registry's schema id (4 bytes, big end)."""
    return b"\x00" + struct.pack(">I", schema_id)
