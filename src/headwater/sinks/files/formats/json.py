"""JSON Lines and JSON arrays, encoded column by column with pyarrow.compute.

Each column becomes an array of JSON value texts (strings escaped and quoted, numbers as
printed, nulls as null, structs/lists/maps recursively), and one
``binary_join_element_wise`` builds every row; no row is ever a Python dict. Timestamps
are ISO-8601 strings (zone-aware ones in UTC with 'Z'); NaN and infinities, which JSON
cannot spell, are written as null.

```yaml
sinks:
  lines: {kind: files, entities: [orders], format: jsonl, path: jsonl, options: {decimals: string}}
  arrays: {kind: files, entities: [orders], format: json, path: json}
```
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar, Literal

import pyarrow as pa

from headwater.sinks._text import (
    data_buffer,
    join_rows,
    json_parts,
    merge_literals,
)
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter, chunks


class JsonOptions(FormatOptions):
    """decimals: `number` writes 12.34 exactly as stored (readers may parse it as a float);
    `string` writes "12.34" so no reader loses precision."""

    decimals: Literal["number", "string"] = "number"


class JsonLinesWriter(FormatWriter):
    """One JSON object per line (JSON Lines / NDJSON), newline-terminated."""

    extension: ClassVar[str] = "jsonl"
    options_model: ClassVar[type[FormatOptions]] = JsonOptions
    # What goes before / after each row's object: lines need only the newline.
    _row_prefix: ClassVar[str] = ""
    _row_suffix: ClassVar[str] = "\n"
    malformed_format: ClassVar[str | None] = "json"

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: JsonOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        # The literal text around each value: '{"a":' … ',"b":' … '}'.
        keys = [json.dumps(name, ensure_ascii=False) for name in schema.names]
        self._literals = [("{" if i == 0 else ",") + key + ":" for i, key in enumerate(keys)]

    def _rows(self, chunk: pa.RecordBatch) -> pa.Buffer:
        if not self._literals:
            row = self._row_prefix + "{}" + self._row_suffix
            return pa.py_buffer(row.encode() * chunk.num_rows)
        return data_buffer(self._encoded_rows(chunk))

    def _encoded_rows(self, chunk: pa.RecordBatch) -> pa.Array:
        if not self._literals:
            return pa.array([self._row_prefix + "{}" + self._row_suffix] * chunk.num_rows)
        decimals = self.options.decimals
        parts: list[pa.Array | str] = [self._row_prefix]
        for literal, column in zip(self._literals, chunk.columns, strict=True):
            parts += [literal, *json_parts(column, decimals)]
        parts.append("}" + self._row_suffix)
        return join_rows(merge_literals(parts))

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        for chunk in chunks(batch):
            self.stream.write(self._rows(chunk))


class JsonWriter(JsonLinesWriter):
    """One JSON array of objects, one object per line so the file stays diff- and grep-able."""

    extension: ClassVar[str] = "json"
    _row_prefix: ClassVar[str] = ",\n"
    _row_suffix: ClassVar[str] = ""
    malformed_format: ClassVar[str | None] = None  # one document: a broken row breaks it all
    _opened = False

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        for chunk in chunks(batch):
            data = self._rows(chunk)
            if not self._opened:
                # The first row of the file has no comma before it.
                self.stream.write(b"[\n")
                data = data.slice(len(self._row_prefix))
                self._opened = True
            self.stream.write(data)

    def _close(self) -> None:
        self.stream.write(b"\n]\n" if self._opened else b"[]\n")
