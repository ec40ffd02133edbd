"""File formats of the `files` sink: one streaming writer per format, registered by name.

    writer = writer_for("csv", stream, schema, {"delimiter": ";"})
    for batch in batches:
        writer.write(batch)
    writer.close()            # ends the document; the caller publishes the stream

`FORMATS` names each format's module, imported on first use; a writer's `options_model`
validates its options. Writers that need optional libraries (xlsx: openpyxl, avro:
fastavro) import them when constructed, so this package imports with the base install.
"""

from headwater.sinks.files.formats._base import FormatOptions, FormatWriter
from headwater.sinks.files.formats._registry import FORMATS, format_class, writer_for

__all__ = ["FORMATS", "FormatOptions", "FormatWriter", "format_class", "writer_for"]
