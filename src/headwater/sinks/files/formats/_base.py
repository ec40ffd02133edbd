"""What every file-format writer shares: the streaming contract and option validation.

A writer is handed an open binary stream and the Arrow schema of the rows to come; the
`files` sink calls ``write`` once per batch and ``close`` once at the end of a file. A
writer never opens, closes or renames files (``publish.py`` does) and keeps at most one
chunk of rows in memory (a Parquet row group at most), so memory does not grow with the
file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from headwater.errors import SinkError

# Rows encoded at once by the vectorized writers: large enough that kernel overhead is
# noise, small enough that the encoded text of one chunk stays far below 2 GiB.
CHUNK_ROWS = 131_072


class FormatOptions(BaseModel):
    """Base of every format's options: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FormatWriter(ABC):
    """Streams batches of one schema into one file of one format.

    Class-level capabilities let the sink decide without knowing the concrete writer:
    `extension` names files, `compressible` says whether gzip/zstd around the file is
    worthwhile (not for formats that compress internally), `sheets` whether
    ``new_sheet`` is supported.
    """

    extension: ClassVar[str]
    options_model: ClassVar[type[FormatOptions]] = FormatOptions
    compressible: ClassVar[bool] = True
    sheets: ClassVar[bool] = False

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: FormatOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        self.stream = stream
        self.schema = schema
        self.sink = sink
        self.options = self.parse_options(options, sink=sink)
        self.rows = 0
        self.closed = False

    @classmethod
    def parse_options(
        cls, options: FormatOptions | Mapping[str, Any] | None, *, sink: str = "files"
    ) -> Any:
        """Accept the options model, a plain mapping (from YAML) or None for defaults."""
        if isinstance(options, cls.options_model):
            return options
        if isinstance(options, FormatOptions):
            options = options.model_dump()
        try:
            return cls.options_model.model_validate(dict(options or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
                for err in exc.errors()
            )
            raise SinkError(sink, f"invalid {cls.extension} options: {problems}") from None

    def error(self, message: str) -> SinkError:
        """A SinkError naming the sink and the format."""
        return SinkError(self.sink, f"{self.extension}: {message}")

    def write(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Append rows; batches must have the writer's column names in the same order."""
        if self.closed:
            raise self.error("write() after close()")
        batch = self._conform(batch)
        if batch.num_rows == 0:
            return
        self._write(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        """Finish the document (closing tags, footers); the stream stays open."""
        if self.closed:
            return
        self.closed = True
        self._close()

    def new_sheet(self, title: str) -> None:
        """Start a new sheet (formats with `sheets` only)."""
        raise self.error("this format has no sheets")

    def sidecars(self) -> dict[str, str]:
        """Files to publish beside the data file, by suffix (e.g. {'.xsd': ...})."""
        return {}

    @abstractmethod
    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Encode non-empty rows already conformed to the schema."""

    def _close(self) -> None:  # noqa: B027 — most formats need no footer
        """Write whatever ends the document."""

    def _conform(self, batch: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
        if batch.schema.equals(self.schema, check_metadata=False):
            return batch
        if batch.schema.names != self.schema.names:
            raise self.error(
                f"batch columns {batch.schema.names} differ from the file's "
                f"columns {self.schema.names}"
            )
        try:
            return batch.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise self.error(f"batch does not fit the file's schema: {exc}") from exc


def chunks(batch: pa.Table | pa.RecordBatch, size: int | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of at most `size` (default CHUNK_ROWS) rows, contiguous columns."""
    size = size or CHUNK_ROWS
    if isinstance(batch, pa.RecordBatch):
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size)
    else:
        yield from batch.to_batches(max_chunksize=size)


def single_char(value: str, what: str) -> str:
    """Validator for options that must be exactly one character."""
    if len(value) != 1:
        raise ValueError(f"{what} must be exactly one character, got {value!r}")
    return value
