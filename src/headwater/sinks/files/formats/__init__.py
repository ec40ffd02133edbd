"""File formats of the `files` sink: one streaming writer per format, registered by name.

    writer = writer_for("csv", stream, schema, {"delimiter": ";"})
    for batch in batches:
        writer.write(batch)
    writer.close()            # ends the document; the caller publishes the stream

Writers that need optional libraries (xlsx: openpyxl, avro: fastavro) import them when
constructed, so this package imports with the base install.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

import pyarrow as pa

from headwater._plugins import suggest
from headwater.errors import PluginError
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter
from headwater.sinks.files.formats.avro import AvroOptions, AvroWriter
from headwater.sinks.files.formats.csv import CsvOptions, CsvWriter, TsvOptions, TsvWriter
from headwater.sinks.files.formats.fixed_width import (
    FixedWidthColumn,
    FixedWidthOptions,
    FixedWidthWriter,
)
from headwater.sinks.files.formats.json import JsonLinesWriter, JsonOptions, JsonWriter
from headwater.sinks.files.formats.parquet import ParquetOptions, ParquetWriter
from headwater.sinks.files.formats.xlsx import XlsxOptions, XlsxWriter
from headwater.sinks.files.formats.xml import XmlOptions, XmlWriter

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


__all__ = [
    "FORMATS",
    "OPTIONS",
    "AvroOptions",
    "AvroWriter",
    "CsvOptions",
    "CsvWriter",
    "FixedWidthColumn",
    "FixedWidthOptions",
    "FixedWidthWriter",
    "FormatOptions",
    "FormatWriter",
    "JsonLinesWriter",
    "JsonOptions",
    "JsonWriter",
    "ParquetOptions",
    "ParquetWriter",
    "TsvOptions",
    "TsvWriter",
    "XlsxOptions",
    "XlsxWriter",
    "XmlOptions",
    "XmlWriter",
    "format_class",
    "writer_for",
]
