"""File formats by name: writer classes loaded on first use, each bringing its options model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

import pyarrow as pa

from headwater._plugins import Registry
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter

FORMATS: Registry[type[FormatWriter]] = Registry(
    "file format",
    {
        "avro": "headwater.sinks.files.formats.avro:AvroWriter",
        "csv": "headwater.sinks.files.formats.csv:CsvWriter",
        "fixed_width": "headwater.sinks.files.formats.fixed_width:FixedWidthWriter",
        "json": "headwater.sinks.files.formats.json:JsonWriter",
        "jsonl": "headwater.sinks.files.formats.json:JsonLinesWriter",
        "parquet": "headwater.sinks.files.formats.parquet:ParquetWriter",
        "tsv": "headwater.sinks.files.formats.csv:TsvWriter",
        "xlsx": "headwater.sinks.files.formats.xlsx:XlsxWriter",
        "xml": "headwater.sinks.files.formats.xml:XmlWriter",
    },
)


def format_class(format: str) -> type[FormatWriter]:
    """The writer class of a format name; an unknown name suggests the closest one."""
    return FORMATS.get(format)


def writer_for(
    format: str,
    stream: BinaryIO,
    schema: pa.Schema,
    options: FormatOptions | Mapping[str, Any] | None = None,
    *,
    sink: str = "files",
) -> FormatWriter:
    """Open a writer of `format` on `stream` for rows of `schema`."""
    return format_class(format)(stream, schema, options, sink=sink)
