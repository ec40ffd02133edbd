"""Kafka Connect's JSON schemas: what JsonConverter with `schemas.enable=true` writes.

Each message is `{"schema": <Connect schema>, "payload": <the value>}`. The schema is
computed once per stream from the Arrow type of its records and travels as raw JSON text
(an `arrow.json` column, which the JSON encoder writes as-is beside the payload).

Types follow Debezium's defaults where the JSON payload allows them: integers int8…int64
(unsigned widened to the next signed type), float32/float64, boolean, string, bytes
(base64 in JSON, as Connect writes them). Three differ because headwater's JSON payload
spells them as text or plain numbers: decimals are `double` (Debezium's
`decimal.handling.mode=double`: the payload holds a JSON number), timestamps with a zone are
`string` named `io.debezium.time.ZonedTimestamp` (ISO 8601, as Debezium writes
`timestamptz`), and dates and zone-less timestamps are unnamed ISO 8601 `string`s.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pyarrow as pa

from headwater.sinks._project import Records

_INTS = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}


def field_schema(t: pa.DataType, optional: bool = True) -> dict[str, Any]:
    """The Connect schema of one Arrow type."""
    if pa.types.is_dictionary(t):
        return field_schema(t.value_type, optional)
    out: dict[str, Any]
    if pa.types.is_boolean(t):
        out = {"type": "boolean"}
    elif pa.types.is_signed_integer(t):
        out = {"type": _INTS[t.bit_width]}
    elif pa.types.is_unsigned_integer(t):
        out = {"type": _INTS[min(t.bit_width * 2, 64)]}
    elif pa.types.is_floating(t):
        out = {"type": "float64" if t.bit_width == 64 else "float32"}
    elif pa.types.is_decimal(t):
        out = {"type": "float64"}
    elif pa.types.is_timestamp(t) and t.tz is not None:
        out = {"type": "string", "name": "io.debezium.time.ZonedTimestamp", "version": 1}
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        out = {"type": "bytes"}
    elif pa.types.is_struct(t):
        out = struct_schema(t, None)
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        out = {"type": "array", "items": field_schema(t.value_type)}
    else:
        out = {"type": "string"}
    out["optional"] = optional
    return out


def struct_schema(
    t: pa.StructType, name: str | None, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A Connect struct of the fields of `t`; those in `required` are not optional."""
    fields = [
        {**field_schema(f.type, f.nullable and f.name not in required), "field": f.name} for f in t
    ]
    out: dict[str, Any] = {"type": "struct", "fields": fields, "optional": False}
    if name is not None:
        out["name"] = name
    return out


def with_schema(values: pa.Array | pa.Table, schema: dict[str, Any]) -> pa.Table:
    """`{"schema": …, "payload": …}` per record: the schema as raw JSON, `values` nested."""
    n = len(values)
    text = pa.repeat(pa.scalar(json.dumps(schema, separators=(",", ":"))), n)
    payload = (
        values
        if isinstance(values, pa.Array)
        else pa.StructArray.from_arrays(
            [c.combine_chunks() for c in values.columns], names=values.column_names
        )
    )
    return pa.table(
        {"schema": pa.ExtensionArray.from_storage(pa.json_(), text), "payload": payload}
    )


def wrap(records: Records, schema: dict[str, Any]) -> Records:
    """Records whose values are wrapped for JsonConverter; keys and routes still read the
    envelope's own fields."""
    return replace(records, values=with_schema(records.values, schema), row=records.source)


# Debezium's names for the envelope's parts; fields Debezium always sets are not optional.
_SOURCE_REQUIRED = ("version", "connector", "name", "ts_ms", "db")
_TRANSACTION = {"name": "event.block", "version": 1}
_SNAPSHOT = {
    "name": "io.debezium.data.Enum",
    "version": 1,
    "parameters": {"allowed": "true,last,false,incremental"},
    "default": "false",
}


def envelope_schema(
    values: pa.Schema, table: str, key: tuple[str, ...], source: dict[str, str]
) -> dict[str, Any]:
    """The Connect schema of the Debezium envelope `values` (sinks/_project.debezium) of
    `table`, named as Debezium names it: `<server>.<table>.Value`, `.Envelope`,
    `io.debezium.connector.<connector>.Source`, `event.block`."""
    prefix = f"{source.get('name', 'headwater')}.{table}"
    fields: list[dict[str, Any]] = []
    for f in values:
        if f.name in ("before", "after"):
            schema = {**struct_schema(f.type, f"{prefix}.Value", key), "optional": True}
        elif f.name == "source":
            schema = struct_schema(
                f.type,
                f"io.debezium.connector.{source.get('connector', 'headwater')}.Source",
                _SOURCE_REQUIRED,
            )
            for s in schema["fields"]:
                if s["field"] == "snapshot":
                    s.update(_SNAPSHOT)
        elif f.name == "transaction":
            schema = {
                **struct_schema(f.type, None, ("id", "total_order", "data_collection_order")),
                **_TRANSACTION,
                "optional": True,
            }
        elif f.name == "headwater":
            schema = {**struct_schema(f.type, "headwater.Simulated"), "optional": True}
        else:
            schema = field_schema(f.type, f.name != "op")
        fields.append({**schema, "field": f.name})
    return {
        "type": "struct",
        "fields": fields,
        "optional": False,
        "name": f"{prefix}.Envelope",
        "version": 1,
    }


def key_schema(key: pa.Schema, name: str) -> dict[str, Any]:
    """The Connect schema of Debezium's message key (`<server>.<table>.Key`): the primary
    key's columns."""
    return struct_schema(pa.struct(list(key)), name, tuple(key.names))


def metadata_schema(values: pa.Schema) -> dict[str, Any]:
    """The Connect schema of Debezium's transaction metadata events."""
    return struct_schema(
        pa.struct(list(values)),
        "io.debezium.connector.common.TransactionMetadataValue",
        ("status", "id", "ts_ms"),
    )
