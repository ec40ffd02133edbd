"""CSV and TSV: pyarrow's CSV writer where it can express the options, else a vectorized encoder.

pyarrow.csv writes `all`, `nonnumeric` and `none` quoting directly. For `minimal` (the
default) it writes with its quoting "none" after we have quoted the few values that
need it ourselves, spelling their structural characters with placeholders that are
swapped back in its output. Everything else (a quote character other than '"', a
delimiter a number could contain, text already holding a placeholder) goes through the
per-column pyarrow.compute encoding the other text formats use. Both paths write the same
bytes (a test holds them to it). Zone-aware timestamps are formatted by us, as pyarrow's
own formatting of them is ~30× slower. Encodings other than UTF-8 are transcoded a chunk
at a time, never per row.

NULL and empty string (PostgreSQL's COPY … CSV convention): NULL is written as the
`null` string, by default an empty unquoted field; an empty string is written as `""`
when `null` is empty (else as an empty field). The manifest records both spellings
(``conventions``) and `headwater verify` reads with them, so an unchanged file verifies.
What readers make of it with their defaults (tested in tests/sinks/files/test_readers.py):

    reader (defaults)                           NULL        ''
    DuckDB read_csv                             NULL        NULL  (allow_quoted_nulls=true)
    DuckDB read_csv(allow_quoted_nulls=false)   NULL        ''
    pandas read_csv                             NaN         NaN   (na_values has '')
    pyarrow.csv (strings_can_be_null=False)     ''          ''
    PostgreSQL COPY … (FORMAT csv)              NULL        ''

No spelling keeps '' apart from NULL under DuckDB's and pandas' defaults: both read an
empty field, quoted or not, as NULL. The default keeps NULL exact for every reader and
'' exact for readers that honour quotes. `null: '\\N'` (MySQL, Hive) writes '' as an
empty field instead, which DuckDB reads back exactly with ``nullstr='\\N'`` but
pandas reads as NaN, and NULL as the text \\N unless ``na_values=['\\N']``.

```yaml
sinks:
  csv_export: {kind: files, entities: [orders], format: csv, path: csv, options: {delimiter: ";", quoting: all, null: "NA"}}
  tsv_export: {kind: files, entities: [orders], format: tsv, path: tsv, options: {header: false}}
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pydantic import field_validator, model_validator

from headwater.sinks._text import (
    STRING,
    any_true,
    data_buffer,
    is_numeric,
    is_textual,
    merge_literals,
    preview,
    to_text,
)
from headwater.sinks.files.formats._base import (
    FormatOptions,
    FormatWriter,
    chunks,
    single_char,
)

BOM = b"\xef\xbb\xbf"
# Characters that numbers, booleans, dates and timestamps can print; a delimiter or quote
# among them means non-text columns could need quoting too.
_LEXICAL = set("0123456789+-.:eEinfatrulsTZ ")
# Control characters (file/group/record/unit separators, never seen in real text) that
# stand in for quote, delimiter, LF and CR inside the values we quote ourselves before
# pyarrow writes them; numpy puts the real ones back where found. A chunk whose text
# already holds one of them is encoded by the vectorized path instead.
_PLACEHOLDERS = "\x1c\x1d\x1e\x1f"
_FIRST_PLACEHOLDER = np.uint8(0x1C)
# Rows pyarrow.csv converts per internal step; its default of 1024 is measurably slower.
CHUNK_BATCH = 16_384


def _may_hold_empty(text: pa.Array) -> bool:
    """Whether some slot has length 0 (an empty string, or a null): offsets only, no kernel."""
    _, offsets, _ = text.buffers()
    n = len(text)
    if n == 0 or offsets is None:
        return False
    o = np.frombuffer(offsets, np.int32, n + 1, text.offset * 4)
    return bool((o[1:] == o[:-1]).any())


class CsvOptions(FormatOptions):
    """How a CSV file is spelled; defaults follow RFC 4180 and Python's csv module.

    quoting: `minimal` quotes a value only when it holds the delimiter, the quote
    character, a line break, or is an empty string; `all` quotes every non-null value;
    `nonnumeric` quotes every non-null value that is not a number; `none` never quotes
    and refuses values that would need it (an empty string, when `null` is empty too).
    encoding: `utf-8-sig` starts the file with a BOM (what Excel wants); with `latin-1`,
    a character outside it is an error unless `errors: replace` writes '?' instead.
    null: how NULL is spelled (default: an empty field; an empty string is then `""`).
    """

    delimiter: str = ","
    quote_char: str = '"'
    quoting: Literal["minimal", "all", "none", "nonnumeric"] = "minimal"
    header: bool = True
    encoding: Literal["utf-8", "utf-8-sig", "latin-1"] = "utf-8"
    errors: Literal["strict", "replace"] = "strict"
    line_terminator: Literal["\n", "\r\n"] = "\n"
    null: str = ""

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        return single_char(v, "delimiter")

    @field_validator("quote_char")
    @classmethod
    def _quote_char(cls, v: str) -> str:
        return single_char(v, "quote_char")

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if self.delimiter == self.quote_char:
            raise ValueError("delimiter and quote_char must differ")
        if {self.delimiter, self.quote_char} & {"\r", "\n"}:
            raise ValueError("delimiter and quote_char cannot be line breaks")
        bad = {self.delimiter, self.quote_char, "\r", "\n"} & set(self.null)
        if bad:
            raise ValueError(f"null string {self.null!r} cannot contain {sorted(bad)!r}")
        return self


class TsvOptions(CsvOptions):
    """CSV options with a tab as the delimiter."""

    delimiter: str = "\t"


class CsvWriter(FormatWriter):
    """Comma-separated values (RFC 4180), streamed chunk by chunk."""

    extension: ClassVar[str] = "csv"
    options_model: ClassVar[type[FormatOptions]] = CsvOptions
    malformed_format: ClassVar[str | None] = "delimited"

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: CsvOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        o: CsvOptions = self.options
        self._started = False
        self._structural = (o.quote_char, o.delimiter, "\n", "\r")
        self._lexical_clash = bool({o.delimiter, o.quote_char} & _LEXICAL)
        # pyarrow.csv quotes only with '"' (and refuses it unquoted), and cannot tell which
        # numbers would need quoting.
        self._native = o.quote_char == '"' and not self._lexical_clash
        self._placeholders_ok = o.delimiter.isascii() and o.delimiter not in _PLACEHOLDERS
        # The real character for each placeholder (only used when they are all ASCII).
        real = "".join(self._structural).encode() if self._placeholders_ok else bytes(4)
        self._restore = np.frombuffer(real, np.uint8)
        self._doubled = o.quote_char * 2
        self._write_options = {
            style: pa_csv.WriteOptions(
                include_header=False,
                batch_size=CHUNK_BATCH,
                delimiter=o.delimiter,
                eol=o.line_terminator,
                null_string=o.null,
                quoting_style=style,
            )
            for style in ("needed", "all_valid", "none")
        }

    def conventions(self) -> dict[str, Any]:
        o: CsvOptions = self.options
        empty = "" if o.null else o.quote_char * 2
        encoding = "latin-1" if o.encoding == "latin-1" else "utf-8"  # a BOM is read as such
        return {"null": o.null, "empty_string": empty, "encoding": encoding}

    # -- writing ---------------------------------------------------------------------

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        self._start()
        for chunk in chunks(batch):
            self._emit(self._encode(chunk))

    def _close(self) -> None:
        self._start()

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        o: CsvOptions = self.options
        if o.encoding == "utf-8-sig":
            self.stream.write(BOM)
        if o.header:
            names = self.schema.names
            line = o.delimiter.join(self._header_field(n) for n in names) + o.line_terminator
            self._emit(line.encode("utf-8"), header=True)

    def _header_field(self, name: str) -> str:
        o: CsvOptions = self.options
        needs = not name or any(c in name for c in (o.delimiter, o.quote_char, "\r", "\n"))
        if o.quoting == "none":
            if needs:
                raise self.error(
                    f"column name {name!r} needs quoting, which quoting: none cannot write"
                )
            return name
        if needs or o.quoting in ("all", "nonnumeric"):
            return o.quote_char + name.replace(o.quote_char, self._doubled) + o.quote_char
        return name

    def _encode(self, chunk: pa.RecordBatch) -> pa.Buffer | memoryview:
        o: CsvOptions = self.options
        names = chunk.schema.names
        columns = chunk.columns
        if not self._native:
            return self._encode_vectorized(names, columns, columns, None)
        texts = [self._prepare(col) for col in columns]
        masks = self._quote_masks(names, columns, texts) if o.quoting in ("minimal", "none") else []
        if all(m is None for m in masks):
            style = {"all": "all_valid", "nonnumeric": "needed"}.get(o.quoting, "none")
            return self._pyarrow_csv(names, texts, style)
        if not self._placeholders_ok or any(
            self._found(text, _PLACEHOLDERS) for text in texts if text.type == STRING
        ):
            return self._encode_vectorized(names, columns, texts, masks)
        # `minimal` with values to quote: we quote those (usually few) ourselves, spelling
        # their quotes, delimiters and line breaks with placeholders so pyarrow's quoting
        # "none" accepts them, then restore the real characters in its output.
        for i, mask in enumerate(masks):
            if mask is not None:
                quoted = self._placeheld(pc.filter(texts[i], mask))
                texts[i] = pc.replace_with_mask(texts[i], mask, quoted)
        return self._restored(self._pyarrow_csv(names, texts, "none"))

    def _restored(self, data: pa.Buffer) -> memoryview:
        """The real characters back in place of placeholders (few: patched where found)."""
        raw = np.frombuffer(data, np.uint8)
        where = np.flatnonzero((raw - _FIRST_PLACEHOLDER) < len(_PLACEHOLDERS))
        out = raw.copy()
        out[where] = self._restore[raw[where] - _FIRST_PLACEHOLDER]
        return out.data

    def _pyarrow_csv(self, names: list[str], texts: list[pa.Array], style: str) -> pa.Buffer:
        out = pa.BufferOutputStream()
        batch = pa.RecordBatch.from_arrays(texts, names)
        pa_csv.write_csv(batch, out, self._write_options[style])
        return out.getvalue()

    def _placeheld(self, values: pa.Array) -> pa.Array:
        """Values quoted with placeholders standing for the structural characters."""
        q, d, n, r = tuple(_PLACEHOLDERS)
        values = pc.replace_substring(values, self.options.quote_char, q + q)
        for real, placeholder in ((self.options.delimiter, d), ("\n", n), ("\r", r)):
            values = pc.replace_substring(values, real, placeholder)
        return pc.binary_join_element_wise(q, values, q, "")

    @staticmethod
    def _found(text: pa.Array, chars: Iterable[str]) -> list[str]:
        """Which of `chars` occur in a string column: a memchr-speed scan of its bytes."""
        if len(text) == 0 or text.buffers()[2] is None:
            return []
        raw = data_buffer(text).to_pybytes()
        return [c for c in chars if c.encode() in raw]

    def _prepare(self, col: pa.Array) -> pa.Array:
        """Columns as pyarrow.csv should see them: text where our lexical form differs."""
        t = col.type
        if self.options.quoting == "nonnumeric" and not is_numeric(t):
            return to_text(col)
        if is_numeric(t) and not pa.types.is_float16(t):
            return col
        if pa.types.is_boolean(t) or pa.types.is_date32(t) or pa.types.is_time(t):
            return col
        return to_text(col)

    def _candidates(self, col: pa.Array) -> bool:
        """Whether this column's text could ever need quoting."""
        return self._lexical_clash or is_textual(col.type)

    def _quote_masks(
        self, names: list[str], columns: list[pa.Array], texts: list[pa.Array]
    ) -> list[pa.Array | None]:
        """Per column, which values need quotes (None when none do); `none` raises instead.

        A scan of the column's bytes says which structural characters occur at all, so
        the per-value search runs only for those (and usually for no column).
        """
        o: CsvOptions = self.options
        empties_matter = not o.null  # '' must be quoted to differ from NULL
        masks: list[pa.Array | None] = []
        for name, col, text in zip(names, columns, texts, strict=True):
            if not self._candidates(col):
                masks.append(None)
                continue
            text = text if text.type == STRING else to_text(col)
            mask = None
            for char in self._found(text, self._structural):
                hits = pc.match_substring(text, char)
                mask = hits if mask is None else pc.or_(mask, hits)
            if empties_matter and _may_hold_empty(text):
                empty = pc.equal(pc.binary_length(text), 0)
                if any_true(empty):
                    mask = empty if mask is None else pc.or_(mask, empty)
            if mask is None:
                masks.append(None)
                continue
            mask = pc.fill_null(mask, False)
            if o.quoting == "none":
                row = pc.indices_nonzero(mask)[0].as_py()
                value = text[row].as_py()
                if value == "":
                    raise self.error(
                        f"column '{name}' row {self.rows + row} is an empty string, which "
                        "quoting: none cannot tell from NULL (also an empty field); set null "
                        "(e.g. '\\N') or use quoting: minimal"
                    )
                raise self.error(
                    f"column '{name}' row {self.rows + row} value {preview(value)} "
                    "holds the delimiter, the quote character or a line break, which "
                    "quoting: none cannot write; use quoting: minimal"
                )
            masks.append(mask)
        return masks

    def _encode_vectorized(
        self,
        names: list[str],
        columns: list[pa.Array],
        prepared: list[pa.Array],
        masks: list[pa.Array | None] | None,
    ) -> pa.Buffer:
        """Quote, join and terminate every row with pyarrow.compute (masks reused if known)."""
        return data_buffer(self._row_texts(names, columns, prepared, masks))

    def _row_texts(
        self,
        names: list[str],
        columns: list[pa.Array],
        prepared: list[pa.Array],
        masks: list[pa.Array | None] | None,
    ) -> pa.Array:
        """Every row as one string, terminator included (what _encode_vectorized writes)."""
        o: CsvOptions = self.options
        q = o.quote_char
        texts = [to_text(col) for col in prepared]
        if masks is None:
            masks = (
                self._quote_masks(names, columns, texts)
                if o.quoting in ("minimal", "none")
                else [None] * len(texts)
            )
        parts: list[pa.Array | str] = []
        for i, (col, text, mask) in enumerate(zip(columns, texts, masks, strict=True)):
            if i:
                parts.append(o.delimiter)
            quote_all = o.quoting == "all" or (
                o.quoting == "nonnumeric" and not is_numeric(col.type)
            )
            if quote_all:
                if is_textual(col.type) or self._lexical_clash:
                    text = pc.replace_substring(text, q, self._doubled)
                if text.null_count:
                    parts.append(pc.binary_join_element_wise(q, text, q, ""))
                else:  # leave the quotes to the row join: one pass less
                    parts += [q, text, q]
            elif mask is not None:
                parts.append(pc.replace_with_mask(text, mask, self._quoted(pc.filter(text, mask))))
            else:
                parts.append(text)
        parts.append(o.line_terminator)
        return pc.binary_join_element_wise(
            *merge_literals(parts), "", null_handling="replace", null_replacement=o.null
        )

    # -- malformed records (see FormatWriter.write_malformed) ------------------------

    def _encoded_rows(self, chunk: pa.RecordBatch) -> pa.Array:
        self._start()
        return self._row_texts(chunk.schema.names, chunk.columns, chunk.columns, None)

    def _row_terminator(self) -> bytes:
        return self.options.line_terminator.encode()

    def _write_encoded(self, data: pa.Buffer) -> None:
        self._emit(data)

    def _file_bytes(self, record: bytes) -> bytes:
        o: CsvOptions = self.options
        if o.encoding != "latin-1":
            return record
        try:
            return record.decode("utf-8").encode(
                "latin-1", "replace" if o.errors == "replace" else "strict"
            )
        except UnicodeEncodeError:
            self._emit(record)  # raises the error naming the character and the row
            raise

    def _quoted(self, text: pa.Array) -> pa.Array:
        q = self.options.quote_char
        return pc.binary_join_element_wise(q, pc.replace_substring(text, q, self._doubled), q, "")

    # -- bytes out -------------------------------------------------------------------

    def _emit(self, data: pa.Buffer | memoryview | bytes, *, header: bool = False) -> None:
        o: CsvOptions = self.options
        if o.encoding == "latin-1":
            text = str(data, "utf-8")
            try:
                data = text.encode("latin-1", "replace" if o.errors == "replace" else "strict")
            except UnicodeEncodeError as exc:
                char = exc.object[exc.start]
                if header:
                    where = "a column name"
                else:
                    row = self.rows + exc.object.count(o.line_terminator, 0, exc.start)
                    where = f"a value near row {row}"
                raise self.error(
                    f"{where} holds {char!r} (U+{ord(char):04X}), which latin-1 cannot "
                    "encode; use encoding: utf-8, or errors: replace to write '?' instead"
                ) from None
        self.stream.write(data)


class TsvWriter(CsvWriter):
    """Tab-separated values: CSV with a tab delimiter and the same quoting rules."""

    extension: ClassVar[str] = "tsv"
    options_model: ClassVar[type[FormatOptions]] = TsvOptions
