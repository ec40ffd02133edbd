"""Fixed-width text: every column padded to a width, every row one line.

The mainframe and bank-export layout. Widths come from `widths` or are derived from the
type (an int64 needs 20 characters, a date 10, a timestamp[us] with zone 27, binary its
base64); text columns without an explicit width get `string_width` (64: a UUID, an email,
a name). With `header: true` a derived width grows to hold the column's name, and an
explicit one too narrow for it is an error (a cut name would be unreadable). Widths
count characters, not bytes (the file is UTF-8). A value longer than its width is an
error, or is cut with `overflow: truncate`.

What the layout cannot hold, documented rather than invented: a line break inside a
value would end the line, so it is written as a space; padding is stripped by readers,
so spaces at the padded end of a value are lost; and with the default `null: ''` an
empty string and NULL are the same blank cell (set `null`, e.g. '\\N', to keep them
apart). ``layout()`` lists (name, start, width, align) so a reader can slice lines; the
sink publishes it beside the file as .layout.json (``sidecars()``) with the padding,
null and line-break spellings, which `headwater verify` reads the file by.

```yaml
sinks:
  bank_export:
    kind: files
    entities: [orders]
    format: fixed_width
    path: fixed
    options: {widths: {order_id: 10, currency: 3}, string_width: 20, overflow: truncate}
```
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater.sinks._text import (
    STRING,
    data_buffer,
    decode,
    is_numeric,
    join_rows,
    preview,
    strip_pattern,
    to_text,
)
from headwater.sinks.files.formats._base import (
    FormatOptions,
    FormatWriter,
    chunks,
    single_char,
)

Align = Literal["left", "right"]

_INT_WIDTH = {(8, True): 4, (16, True): 6, (32, True): 11, (64, True): 20}
_UINT_WIDTH = {8: 3, 16: 5, 32: 10, 64: 20}
_FRACTION = {"s": 0, "ms": 4, "us": 7, "ns": 10}


class FixedWidthOptions(FormatOptions):
    """widths: characters per column by name (others derived from the type, text columns
    `string_width`); align: `auto` puts numbers right and the rest left, or one
    alignment for all, or per column; overflow: `error` or `truncate` values too wide."""

    widths: dict[str, int] = Field(default_factory=dict)
    string_width: int = Field(default=64, ge=1)
    align: Literal["auto", "left", "right"] | dict[str, Align] = "auto"
    padding: str = " "
    overflow: Literal["error", "truncate"] = "error"
    separator: str = ""
    header: bool = False
    null: str = ""
    line_terminator: Literal["\n", "\r\n"] = "\n"

    @field_validator("padding")
    @classmethod
    def _padding(cls, v: str) -> str:
        return single_char(v, "padding")

    @field_validator("widths")
    @classmethod
    def _widths(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {k: w for k, w in v.items() if w < 1}
        if bad:
            raise ValueError(f"widths must be at least 1, got {bad}")
        return v

    @model_validator(mode="after")
    def _no_line_breaks(self) -> FixedWidthOptions:
        if {"\r", "\n"} & set(self.separator + self.null):
            raise ValueError("separator and null cannot contain line breaks")
        return self


@dataclass(frozen=True)
class FixedWidthColumn:
    """Where a column sits on each line: characters [start, start + width)."""

    name: str
    start: int
    width: int
    align: Align


def derived_width(t: pa.DataType, string_width: int) -> int:
    """Characters needed for any value of a type in the formats' shared text forms."""
    if pa.types.is_dictionary(t):
        return derived_width(t.value_type, string_width)
    if pa.types.is_boolean(t):
        return 5
    if pa.types.is_signed_integer(t):
        return _INT_WIDTH[(t.bit_width, True)]
    if pa.types.is_unsigned_integer(t):
        return _UINT_WIDTH[t.bit_width]
    if pa.types.is_float64(t):
        return 24  # -2.2250738585072014e-308
    if pa.types.is_floating(t):
        return 15  # -1.17549435e-38
    if pa.types.is_decimal(t):
        return t.precision + 3  # sign, point, leading zero
    if pa.types.is_date(t):
        return 10
    if pa.types.is_timestamp(t):
        return 19 + _FRACTION[t.unit] + (1 if t.tz else 0)
    if pa.types.is_time(t):
        return 8 + _FRACTION[t.unit]
    if pa.types.is_fixed_size_binary(t):
        return 4 * -(-t.byte_width // 3)  # base64
    return string_width


class FixedWidthWriter(FormatWriter):
    """Fixed-width columns, one row per line."""

    extension: ClassVar[str] = "txt"
    options_model: ClassVar[type[FormatOptions]] = FixedWidthOptions

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: FixedWidthOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        o: FixedWidthOptions = self.options
        unknown = sorted(set(o.widths) - set(schema.names))
        if unknown:
            raise self.error(f"widths name unknown columns {unknown}; columns: {schema.names}")
        if isinstance(o.align, dict):
            unknown = sorted(set(o.align) - set(schema.names))
            if unknown:
                raise self.error(f"align names unknown columns {unknown}")
        columns, start = [], 0
        for field in schema:
            width = o.widths.get(field.name) or derived_width(field.type, o.string_width)
            if o.header and len(field.name) > width:
                if field.name in o.widths:
                    raise self.error(
                        f"column '{field.name}' is {width} wide, its name {len(field.name)}: "
                        "the header would cut it; widen it with widths, or set header: false"
                    )
                width = len(field.name)
            columns.append(FixedWidthColumn(field.name, start, width, self._align(field)))
            start += width + len(o.separator)
        self._layout = columns
        narrow = [c.name for c in columns if c.width < len(o.null)]
        if narrow:
            raise self.error(f"null string {o.null!r} is wider than columns {narrow}")
        self._started = False

    def _align(self, field: pa.Field) -> Align:
        align = self.options.align
        if isinstance(align, dict):
            return align.get(field.name, "right" if is_numeric(field.type) else "left")
        if align == "auto":
            return "right" if is_numeric(field.type) else "left"
        return align

    def layout(self) -> list[FixedWidthColumn]:
        """Column positions on each line (0-based character offsets)."""
        return list(self._layout)

    def sidecars(self) -> dict[str, str]:
        o: FixedWidthOptions = self.options
        spec = {
            "line_terminator": o.line_terminator,
            "header": o.header,
            "padding": o.padding,
            "null": o.null,
            "line_breaks": " ",  # what a line break inside a value is written as
            "columns": [asdict(c) for c in self._layout],
        }
        return {".layout.json": json.dumps(spec, indent=2) + "\n"}

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        o: FixedWidthOptions = self.options
        if o.header:
            names = pa.array([c.name for c in self._layout], STRING)
            cells = [
                self._fit(names.slice(i, 1), c, truncate=False)[0].as_py()
                for i, c in enumerate(self._layout)
            ]
            self.stream.write((o.separator.join(cells) + o.line_terminator).encode("utf-8"))

    def _fit(self, text: pa.Array, column: FixedWidthColumn, *, truncate: bool) -> pa.Array:
        """Cut or refuse values wider than the column, then pad to its width."""
        too_wide = pc.greater(pc.utf8_length(text), column.width)
        if pc.any(too_wide).as_py():
            if not truncate:
                row = pc.indices_nonzero(pc.fill_null(too_wide, False))[0].as_py()
                raise self.error(
                    f"column '{column.name}' row {self.rows + row} value "
                    f"{preview(text[row].as_py())} is wider than {column.width} characters; "
                    "widen it with widths, or set overflow: truncate"
                )
            text = pc.utf8_slice_codeunits(text, 0, column.width)
        pad = pc.utf8_lpad if column.align == "right" else pc.utf8_rpad
        return pad(text, column.width, self.options.padding)

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        self._start()
        o: FixedWidthOptions = self.options
        truncate = o.overflow == "truncate"
        for chunk in chunks(batch):
            parts: list[pa.Array | str] = []
            for column, col in zip(self._layout, chunk.columns, strict=True):
                text = to_text(decode(col))
                text = strip_pattern(text, r"[\r\n]", " ")
                text = pc.fill_null(text, o.null)
                parts.append(self._fit(text, column, truncate=truncate))
            if not parts:
                parts.append(pa.array([""] * chunk.num_rows, STRING))
            parts[-1] = pc.binary_join_element_wise(parts[-1], o.line_terminator, "")
            self.stream.write(data_buffer(join_rows(parts, o.separator)))

    def _close(self) -> None:
        self._start()
