"""File formats of the `files` sink: one streaming writer per format, registered by name.

    writer = writer_for("csv", stream, schema, {"delimiter": ";"})
    for batch in batches:
        writer.write(batch)
    writer.close()            # ends the document; the caller publishes the stream

Writers that need optional libraries (xlsx: openpyxl, avro: fastavro) import them when
constructed, so this package imports with the base install.
"""

from headwater.sinks.files.formats._base import FormatOptions, FormatWriter
from headwater.sinks.files.formats._registry import FORMATS, OPTIONS, format_class, writer_for
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
