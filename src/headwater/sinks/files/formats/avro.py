"""Avro object container files through fastavro, with the schema derived from Arrow.

Nullable columns become ["null", T] unions; timestamps, dates, times and decimals use
Avro's logical types (timestamp-micros for zone-aware values, local-timestamp-micros for
naive ones). fastavro needs one dict per row, so this is the slowest format; to keep it
tolerable, temporal columns are handed over as the integers Avro stores rather than as
datetime objects. ``avro_schema()`` gives the schema for an .avsc beside the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater.errors import MissingExtra, require
from headwater.sinks._text import decode
from headwater.sinks.files.formats import _base
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter, chunks

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAMESPACE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class AvroOptions(FormatOptions):
    """codec: block compression (zstandard needs the zstandard package);
    name/namespace: the record's full name in the schema;
    sync_interval: approximate bytes per block."""

    codec: Literal["null", "deflate", "zstandard"] = "deflate"
    compression_level: int | None = None
    name: str = "Row"
    namespace: str | None = "headwater"
    sync_interval: int = Field(default=64_000, ge=1_000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)")
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str | None) -> str | None:
        if v is not None and not _NAMESPACE.match(v):
            raise ValueError(f"{v!r} is not a valid Avro namespace")
        return v


class AvroWriter(FormatWriter):
    """Avro object container file; compressed in blocks, so no outer compression."""

    extension: ClassVar[str] = "avro"
    options_model: ClassVar[type[FormatOptions]] = AvroOptions
    compressible: ClassVar[bool] = False

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: AvroOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        fastavro = require("fastavro", "files", "avro files")
        parse_schema, Writer = fastavro.parse_schema, fastavro.write.Writer
        o: AvroOptions = self.options
        _check_codec(o.codec)
        self._schema = avro_schema(schema, o.name, o.namespace, error=self.error)
        self._maps = [_has_map(f.type) for f in schema]
        try:
            self._writer = Writer(
                stream,
                parse_schema(self._schema),
                codec=o.codec,
                sync_interval=o.sync_interval,
                compression_level=o.compression_level,
            )
        except Exception as exc:  # fastavro raises plain ValueError/SchemaParseException
            raise self.error(f"cannot start the Avro file: {exc}") from exc

    def avro_schema(self) -> dict[str, Any]:
        """The Avro schema (a record) the file is written with."""
        return self._schema

    def sidecars(self) -> dict[str, str]:
        import json

        return {".avsc": json.dumps(self._schema, indent=2) + "\n"}

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        write = self._writer.write
        names = self.schema.names
        for chunk in chunks(batch, min(_base.CHUNK_ROWS, 16_384)):
            columns = [_avro_values(col) for col in chunk.columns]
            prepared = pa.RecordBatch.from_arrays(columns, names)
            records = prepared.to_pylist()
            if any(self._maps):
                for name, field, has_map in zip(names, self.schema, self._maps, strict=True):
                    if has_map:
                        for record in records:
                            record[name] = _maps_to_dicts(record[name], field.type)
            try:
                for record in records:
                    write(record)
            except (ValueError, TypeError, OverflowError) as exc:
                raise self.error(f"cannot encode a row: {exc}") from exc

    def _close(self) -> None:
        self._writer.flush()


def _check_codec(codec: str) -> None:
    """fastavro accepts a codec name even when its library is missing and fails at the
    first block; find out up front. (fastavro ≥ 1.10 compresses zstandard with
    backports.zstd, or compression.zstd on Python ≥ 3.14, not with `zstandard`.)"""
    if codec != "zstandard":
        return
    import importlib.util

    for module in ("compression.zstd", "backports.zstd", "zstandard"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found and _zstd_works():
            return
    raise MissingExtra("the Avro zstandard codec", "files", "backports.zstd")


def _zstd_works() -> bool:
    import io

    from fastavro.write import Writer

    try:
        w = Writer(
            io.BytesIO(), {"type": "record", "name": "probe", "fields": []}, codec="zstandard"
        )
        w.write({})
        w.flush()
    except ValueError:
        return False
    return True


def _avro_values(col: pa.Array) -> pa.Array:
    """The column as the values Avro stores (ints for temporal types), so to_pylist is cheap."""
    col = decode(col)
    t = col.type
    if pa.types.is_timestamp(t):
        if t.unit in ("s", "ms"):
            return col.cast(pa.timestamp("ms", t.tz)).cast(pa.int64())
        return col.cast(pa.timestamp("us", t.tz), safe=False).cast(pa.int64())
    if pa.types.is_date(t):
        return col.cast(pa.date32()).cast(pa.int32())
    if pa.types.is_time32(t):
        return col.cast(pa.time32("ms")).cast(pa.int32())
    if pa.types.is_time64(t):
        return col.cast(pa.time64("us"), safe=False).cast(pa.int64())
    if pa.types.is_duration(t):
        return col.cast(pa.int64())
    if pa.types.is_float16(t):
        return col.cast(pa.float32())
    if pa.types.is_decimal128(t):
        return _decimal_bytes(col)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_struct(t):
        fields = [_avro_values(col.field(i)) for i in range(t.num_fields)]
        names = [t.field(i).name for i in range(t.num_fields)]
        mask = col.is_null() if col.null_count else None
        return pa.StructArray.from_arrays(fields, names, mask=mask)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        values = _avro_values(col.flatten())
        offsets = pc.subtract(col.offsets, col.offsets[0])
        cls = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return cls.from_arrays(offsets, values, mask=col.is_null() if col.null_count else None)
    return col


def _decimal_bytes(col: pa.Array) -> pa.Array:
    """Decimals as Avro stores them (big-endian two's-complement unscaled integers).

    fastavro builds those from Decimal objects slowly; byte-swapping Arrow's little-endian
    128-bit integers in numpy is what it would compute. Precision ≤ 18 fits the low 8
    bytes; Avro readers accept any length.
    """
    width = 8 if col.type.precision <= 18 else 16
    raw = np.frombuffer(col.buffers()[1], np.uint8, len(col) * 16, col.offset * 16)
    big_endian = np.ascontiguousarray(raw.reshape(-1, 16)[:, width - 1 :: -1])
    values = pa.Array.from_buffers(pa.binary(width), len(col), [None, pa.py_buffer(big_endian)])
    if col.null_count:
        values = pc.if_else(col.is_valid(), values, pa.scalar(None, pa.binary(width)))
    return values


def _has_map(t: pa.DataType) -> bool:
    if pa.types.is_map(t):
        return True
    if pa.types.is_dictionary(t):
        return False
    return any(_has_map(t.field(i).type) for i in range(t.num_fields))


def _maps_to_dicts(value: Any, t: pa.DataType) -> Any:
    """Arrow maps come out of to_pylist as lists of pairs; Avro wants dicts."""
    if value is None:
        return None
    if pa.types.is_map(t):
        return {k: _maps_to_dicts(v, t.item_type) for k, v in value}
    if pa.types.is_struct(t):
        return {
            f.name: _maps_to_dicts(value[f.name], f.type)
            for f in (t.field(i) for i in range(t.num_fields))
        }
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_maps_to_dicts(v, t.value_type) for v in value]
    return value


def avro_schema(
    schema: pa.Schema,
    name: str = "Row",
    namespace: str | None = "headwater",
    *,
    error: Any = ValueError,
) -> dict[str, Any]:
    """The Avro record schema for an Arrow schema (raises `error(message)` if impossible)."""
    record: dict[str, Any] = {"type": "record", "name": name}
    if namespace:
        record["namespace"] = namespace
    record["fields"] = [_field(f, name, error) for f in schema]
    return record


def _field(field: pa.Field, parent: str, error: Any) -> dict[str, Any]:
    if not _NAME.match(field.name):
        raise error(
            f"column name {field.name!r} is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*); "
            "rename the field for Avro output"
        )
    typ = _type(field.type, f"{parent}_{field.name}", error)
    if field.nullable and typ != "null":
        return {"name": field.name, "type": ["null", typ], "default": None}
    return {"name": field.name, "type": typ}


def _type(t: pa.DataType, path: str, error: Any) -> Any:
    if pa.types.is_dictionary(t):
        return _type(t.value_type, path, error)
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        small = t.bit_width < 32 or (t.bit_width == 32 and pa.types.is_signed_integer(t))
        return "int" if small else "long"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "bytes"
    if pa.types.is_fixed_size_binary(t):
        return {"type": "fixed", "name": path, "size": t.byte_width}
    if pa.types.is_decimal(t):
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": t.precision,
            "scale": t.scale,
        }
    if pa.types.is_date(t):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_timestamp(t):
        millis = t.unit in ("s", "ms")
        kind = ("timestamp" if t.tz else "local-timestamp") + ("-millis" if millis else "-micros")
        return {"type": "long", "logicalType": kind}
    if pa.types.is_time32(t):
        return {"type": "int", "logicalType": "time-millis"}
    if pa.types.is_time64(t):
        return {"type": "long", "logicalType": "time-micros"}
    if pa.types.is_duration(t):
        return "long"
    if pa.types.is_struct(t):
        fields = [_field(t.field(i), path, error) for i in range(t.num_fields)]
        return {"type": "record", "name": path, "fields": fields}
    if pa.types.is_map(t):
        if not (pa.types.is_string(t.key_type) or pa.types.is_large_string(t.key_type)):
            raise error(f"{path}: Avro maps need string keys, not {t.key_type}")
        return {"type": "map", "values": _nullable(t.item_field, path, error)}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return {"type": "array", "items": _nullable(t.value_field, path, error)}
    raise error(f"{path}: no Avro type for Arrow type {t}")


def _nullable(field: pa.Field, path: str, error: Any) -> Any:
    typ = _type(field.type, path + "_item", error)
    return ["null", typ] if field.nullable and typ != "null" else typ
