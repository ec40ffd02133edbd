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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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

    # -- malformed records (faults/malformed.py) --------------------------------------
    # Line-oriented text formats name the `corrupt()` format of their records ('json',
    # 'delimited') and can write a broken record in place of a row. The others (Parquet,
    # Avro, XLSX, XML, a JSON array) cannot hold one: they write marked rows intact, and
    # the ledger still records the fault.
    malformed_format: ClassVar[str | None] = None

    def write_malformed(
        self, batch: pa.Table | pa.RecordBatch, kinds: pa.Array, seqs: pa.Array, *, seed: int
    ) -> None:
        """Like ``write``, with the rows whose `kinds` (truncate/type/encoding) is set broken.

        Rows stay in order and count as rows; unmarked rows are the bytes ``write`` gives.
        """
        if self.malformed_format is None:
            self.write(batch)
            return
        if self.closed:
            raise self.error("write() after close()")
        batch = self._conform(batch)
        if batch.num_rows == 0:
            return
        offset = 0
        for chunk in chunks(batch):
            n = chunk.num_rows
            k, s = kinds.slice(offset, n), seqs.slice(offset, n)
            offset += n
            if k.null_count == n:
                self._write(chunk)
            else:
                self._write_broken(self._encoded_rows(chunk), k, s, seed)
        self.rows += batch.num_rows

    def _encoded_rows(self, chunk: pa.RecordBatch) -> pa.Array:
        """One string per row as ``write`` encodes it, terminator included (text formats)."""
        raise self.error("this format has no per-row encoding")

    def _row_terminator(self) -> bytes:
        return b"\n"

    def _write_encoded(self, data: pa.Buffer) -> None:
        """Write encoded rows (from ``_encoded_rows``) as ``write`` would."""
        self.stream.write(data)

    def _file_bytes(self, record: bytes) -> bytes:
        """One encoded UTF-8 record in the file's character encoding."""
        return record

    def _write_broken(self, rows: pa.Array, kinds: pa.Array, seqs: pa.Array, seed: int) -> None:
        from headwater.faults.malformed import corrupt
        from headwater.sinks._text import data_buffer

        marked = np.flatnonzero(pc.is_valid(kinds).to_numpy(zero_copy_only=False))
        term = self._row_terminator()
        records = [
            self._file_bytes(r[: len(r) - len(term)] if r.endswith(term) else r)
            for r in pc.cast(pc.take(rows, marked), pa.binary()).to_pylist()
        ]
        broken = corrupt(
            records,
            pc.take(kinds, marked),
            pc.take(seqs, marked),
            seed=seed,
            format=self.malformed_format or "json",
        )
        start = 0
        for i, rec in zip(marked.tolist(), broken, strict=True):
            if i > start:
                self._write_encoded(data_buffer(rows.slice(start, i - start)))
            self.stream.write(rec + term)
            start = i + 1
        if start < len(rows):
            self._write_encoded(data_buffer(rows.slice(start)))

    def close(self) -> None:
        """Finish the document (closing tags, footers); the stream stays open."""
        if self.closed:
            return
        self.closed = True
        self._close()

    def discard(self) -> None:
        """Give the document up unfinished, as its file is thrown away: release the encoder
        now, so that nothing tries to finish it later (a destructor at interpreter exit)."""
        if self.closed:
            return
        self.closed = True
        self._discard()

    def new_sheet(self, title: str) -> None:
        """Start a new sheet (formats with `sheets` only)."""
        raise self.error("this format has no sheets")

    def sidecars(self) -> dict[str, str]:
        """Files to publish beside the data file, by suffix (e.g. {'.xsd': ...})."""
        return {}

    def conventions(self) -> dict[str, Any]:
        """How the file spells what a reader must know to read it back exactly (a CSV's
        NULL and empty string); the manifest records it and `verify` reads with it."""
        return {}

    @abstractmethod
    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Encode non-empty rows already conformed to the schema."""

    def _close(self) -> None:  # noqa: B027 — most formats need no footer
        """Write whatever ends the document."""

    def _discard(self) -> None:  # noqa: B027 — most formats hold nothing to release
        """Release the encoder without finishing the document."""

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
