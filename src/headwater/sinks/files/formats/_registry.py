"""File formats by name: their writer classes and options models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

import pyarrow as pa

from headwater._plugins import suggest
from headwater.errors import PluginError
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter
from headwater.sinks.files.formats.avro import AvroWriter
from headwater.sinks.files.formats.csv import CsvWriter, TsvWriter
from headwater.sinks.files.formats.fixed_width import FixedWidthWriter
from headwater.sinks.files.formats.json import JsonLinesWriter, JsonWriter
from headwater.sinks.files.formats.parquet import ParquetWriter
from headwater.sinks.files.formats.xlsx import XlsxWriter
from headwater.sinks.files.formats.xml import XmlWriter

FORMATS: dict[str, type[FormatWriter]] = {
    "avro": AvroWriter,
    "csv": CsvWriter,
    "fixed_width": FixedWidthWriter,
    "json": JsonWriter,
    "jsonl": JsonLinesWriter,
    "parquet": ParquetWriter,
    "tsv": TsvWriter,
    "xlsx": XlsxWriter,
    "xml": XmlWriter,
}

# The options model of each format, for the sink's configuration to embed.
OPTIONS: dict[str, type[FormatOptions]] = {name: cls.options_model for name, cls in FORMATS.items()}


def format_class(format: str) -> type[FormatWriter]:
    """The writer class of a format name; an unknown name suggests the closest one."""
    try:
        return FORMATS[format]
    except KeyError:
        raise PluginError(f"unknown file format '{format}'{suggest(format, FORMATS)}") from None


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
