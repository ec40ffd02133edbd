"""Parquet through pyarrow.parquet.ParquetWriter, with row groups of a chosen size.

The sink's batches are usually smaller than a good row group, and each ParquetWriter
write starts a new row group; so batches are held until `row_group_size` rows are
buffered, then written as one group. Memory is bounded by one row group.

```yaml
sinks:
  lake: {kind: files, entities: [orders], format: parquet, path: lake, options: {compression: zstd, row_group_size: 100000}}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from headwater.sinks.files.formats._base import FormatOptions, FormatWriter


class ParquetOptions(FormatOptions):
    """row_group_size: rows per row group (and the most rows held in memory)."""

    row_group_size: int = Field(default=1_048_576, ge=1)
    compression: Literal["snappy", "zstd", "gzip", "none"] = "snappy"
    compression_level: int | None = None


class ParquetWriter(FormatWriter):
    """Apache Parquet, columnar and compressed inside; no outer compression needed."""

    extension: ClassVar[str] = "parquet"
    options_model: ClassVar[type[FormatOptions]] = ParquetOptions
    compressible: ClassVar[bool] = False

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: ParquetOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        o: ParquetOptions = self.options
        try:
            self._writer = pq.ParquetWriter(
                stream,
                schema,
                compression=o.compression,
                compression_level=o.compression_level,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise self.error(str(exc)) from exc
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        size = self.options.row_group_size
        self._pending += batch.to_batches() if isinstance(batch, pa.Table) else [batch]
        self._pending_rows += batch.num_rows
        if self._pending_rows < size:
            return
        table = pa.Table.from_batches(self._pending, self.schema)
        whole = (self._pending_rows // size) * size
        self._writer.write_table(table.slice(0, whole), row_group_size=size)
        self._pending = table.slice(whole).to_batches()
        self._pending_rows -= whole

    def _close(self) -> None:
        if self._pending_rows:
            table = pa.Table.from_batches(self._pending, self.schema)
            self._writer.write_table(table, row_group_size=self.options.row_group_size)
            self._pending, self._pending_rows = [], 0
        self._writer.close()

    def _discard(self) -> None:
        # pyarrow's writer finishes its file in __del__ while it is open: at exit, into a
        # stream closed by then, with a traceback. So it ends now, its footer going into the
        # file being thrown away; one broken by a failed or interrupted write may refuse, and
        # is then only marked closed (what its __del__ checks).
        self._pending, self._pending_rows = [], 0
        try:
            self._writer.close()
        except Exception:
            self._writer.is_open = False
