"""Excel workbooks (.xlsx) through openpyxl's write-only mode, with typed cells.

Write-only mode streams each sheet's rows to a temporary file, so memory stays flat;
the workbook (a zip) is assembled on ``close``. Cells are typed: numbers, booleans,
dates and datetimes (naive, in UTC, as Excel has no time zones). Integers beyond 2^53,
which Excel would round, are written as text.

What readers get back: a NULL is no cell and an empty string an empty text cell, but
openpyxl and pandas.read_excel read both as empty (None/NaN); times are Excel serial
day numbers that hold µs, which openpyxl (and so pandas) rounds to the millisecond.
`headwater verify` tells the two cells apart and compares times to the millisecond. A sheet holds at most 1,048,576 rows;
further rows continue on a new sheet named "<title> (2)", and the sink can start a
sheet of its own (per entity, per interval) with ``new_sheet``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from headwater.errors import require
from headwater.sinks._text import (
    decode,
    is_nested,
    strip_pattern,
    to_text,
)
from headwater.sinks.files.formats import _base
from headwater.sinks.files.formats._base import FormatOptions, FormatWriter, chunks

MAX_ROWS = 1_048_576  # Excel's rows per sheet, header included
_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")
# Control characters the xlsx XML cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE, as RE2).
_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_EXACT = 2**53


class XlsxOptions(FormatOptions):
    """sheet: title of the first sheet; header: a bold row of column names on each sheet."""

    sheet: str = Field(default="data", min_length=1)
    header: bool = True


class XlsxWriter(FormatWriter):
    """An Excel workbook; one sheet per ``new_sheet`` call, typed cells."""

    extension: ClassVar[str] = "xlsx"
    options_model: ClassVar[type[FormatOptions]] = XlsxOptions
    compressible: ClassVar[bool] = False
    sheets: ClassVar[bool] = True

    def __init__(
        self,
        stream: BinaryIO,
        schema: pa.Schema,
        options: XlsxOptions | Mapping[str, Any] | None = None,
        *,
        sink: str = "files",
    ):
        super().__init__(stream, schema, options, sink=sink)
        openpyxl = require("openpyxl", "files", "xlsx files")
        Workbook, WriteOnlyCell = openpyxl.Workbook, openpyxl.cell.WriteOnlyCell
        Font = openpyxl.styles.Font
        self._cell = WriteOnlyCell
        self._bold = Font(bold=True)
        self._book = Workbook(write_only=True)
        self._sheet: Any = None
        self._title = ""
        self._sheet_rows = 0
        self._part = 1
        self._next_title = self.options.sheet

    def new_sheet(self, title: str) -> None:
        """Put the following rows on a new sheet (title made valid and unique)."""
        if self.closed:
            raise self.error("new_sheet() after close()")
        self._open_sheet(title)

    def _open_sheet(self, title: str, *, continued: bool = False) -> None:
        if not continued:
            self._title, self._part = title, 1
        self._sheet = self._book.create_sheet(self._unique(sheet_title(title)))
        self._sheet_rows = 0
        if self.options.header:
            cells = []
            for name in self.schema.names:
                cell = self._cell(self._sheet, value=name)
                cell.font = self._bold
                cells.append(cell)
            self._sheet.append(cells)
            self._sheet_rows = 1

    def _unique(self, title: str) -> str:
        taken = {t.lower() for t in self._book.sheetnames}
        candidate, n = title, 1
        while candidate.lower() in taken:
            n += 1
            suffix = f" ({n})"
            candidate = title[: 31 - len(suffix)] + suffix
        return candidate

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        if self._sheet is None:
            self._open_sheet(self._next_title)
        for chunk in chunks(batch, min(_base.CHUNK_ROWS, 16_384)):
            columns = [self._values(col) for col in chunk.columns]
            rows = zip(*columns, strict=True) if columns else iter([()] * chunk.num_rows)
            append = self._sheet.append
            for row in rows:
                if self._sheet_rows >= MAX_ROWS:
                    self._part += 1
                    self._open_sheet(f"{self._title} ({self._part})", continued=True)
                    append = self._sheet.append
                append(row)
                self._sheet_rows += 1

    def _values(self, col: pa.Array) -> list[Any]:
        """Python values openpyxl types correctly (naive UTC datetimes, text for the rest)."""
        col = decode(col)
        t = col.type
        if pa.types.is_timestamp(t):
            unit = "us" if t.unit == "ns" else t.unit
            return col.cast(pa.timestamp(unit), safe=False).to_pylist()
        if pa.types.is_time64(t) and t.unit == "ns":
            return col.cast(pa.time64("us"), safe=False).to_pylist()
        if pa.types.is_integer(t) and t.bit_width == 64:
            values = col.to_pylist()
            big = pc.greater_equal(pc.abs(col.cast(pa.float64(), safe=False)), float(_EXACT))
            for i in pc.indices_nonzero(pc.fill_null(big, False)).to_pylist():
                values[i] = str(values[i])
            return values
        if (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_decimal(t)
            or pa.types.is_boolean(t)
            or pa.types.is_date(t)
            or pa.types.is_time(t)
            or pa.types.is_duration(t)
        ):
            return col.to_pylist()
        if is_nested(t) or not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            col = to_text(col)
        return strip_pattern(col, _ILLEGAL, "").to_pylist()

    def _close(self) -> None:
        if self._sheet is None:
            self._open_sheet(self._next_title)
        self._book.save(self.stream)


def sheet_title(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, not quoted at the ends."""
    title = _TITLE_BAD.sub("_", title).strip("'") or "Sheet"
    return title[:31]
