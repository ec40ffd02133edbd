"""Reading a folder of data files as their writer meant them, for a folder target.

DuckDB reads Parquet, CSV/TSV and JSON itself; XML, Excel, Avro and fixed-width files
are read here into Arrow. Each reader keeps NULL and the empty string apart the way the
format spells them, as headwater's files sink writes them (see its format modules):

    CSV/TSV      the `null` string (default an empty field) is NULL, `""` is ''; the
                 spellings (and a latin-1 encoding) are taken from the folder's
                 _manifest.json, else PostgreSQL's COPY convention in UTF-8 is assumed
    XML          an element with xsi:nil="true" (or an absent attribute) is NULL, an
                 empty element (or attribute) is ''
    xlsx         an absent cell is NULL, an empty text cell is ''; times come back to the
                 millisecond (openpyxl rounds Excel's serial day numbers), which is within
                 verify's tolerance for timestamps
    Avro         typed values, null from the ["null", T] union
    fixed-width  sliced by the .layout.json beside the file, padding stripped; the
                 layout's `null` string is NULL (with the default null '', so is '')
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.compute as pc

from headwater.errors import VerifyError, require

MANIFEST = "_manifest.json"
# What headwater's CSV writer spells by default (PostgreSQL's COPY convention).
CSV_DEFAULT = {"null": "", "empty_string": '""', "encoding": "utf-8"}
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def column(values: list[Any]) -> pa.Array:
    """A column from Python values: their one type, or text when they mix types."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int, float}:
        return pa.array(values, pa.float64())
    if len(kinds) <= 1:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _table(names: list[str], rows: list[list[Any]]) -> pa.Table:
    return pa.table({n: column([r[i] for r in rows]) for i, n in enumerate(names)})


def _open(path: Path) -> BinaryIO:
    """The file's bytes, decompressed (.gz, .zst) as the files sink compresses them."""
    if path.name.endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    if path.name.endswith(".zst"):
        zstandard = require("zstandard", "files", "verify of .zst files")
        return zstandard.ZstdDecompressor().stream_reader(path.open("rb"))
    return path.open("rb")


def stem(path: Path) -> str:
    """items-00001.csv.gz → items-00001 (the name sidecars share)."""
    name = path.name
    for ending in (".gz", ".zst"):
        name = name.removesuffix(ending)
    return name.rsplit(".", 1)[0]


def conventions(files: list[Path]) -> dict[Path, dict[str, Any]]:
    """Per file, how it spells NULL and '' (from its folder's manifest, else the default)."""
    listed: dict[Path, dict[str, Any]] = {}
    for folder in {p.parent for p in files}:
        manifest = folder / MANIFEST
        if not manifest.is_file():
            continue
        try:
            entries = json.loads(manifest.read_text("utf-8")).get("files", [])
        except (OSError, ValueError) as exc:
            raise VerifyError(f"--target: cannot read {manifest}: {exc}") from None
        for entry in entries:
            if isinstance(entry, dict) and "file" in entry:
                listed[(folder / entry["file"]).resolve()] = entry.get("conventions") or {}
    return {p: {**CSV_DEFAULT, **listed.get(p.resolve(), {})} for p in files}


# -- XML -------------------------------------------------------------------------------------
def read_xml(path: Path) -> pa.Table:
    """Rows are the root's children; columns their child elements or their attributes."""
    from xml.etree.ElementTree import iterparse

    names: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    depth = 0
    with _open(path) as f:
        for event, el in iterparse(f, events=("start", "end")):
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth != 1:
                continue
            row: dict[str, Any] = {k: v for k, v in el.attrib.items() if not k.startswith("{")}
            for child in el:
                row[child.tag] = None if child.get(_XSI_NIL) == "true" else (child.text or "")
            names.update(dict.fromkeys(row))
            rows.append(row)
            el.clear()
    cols = list(names)
    return _table(cols, [[r.get(c) for c in cols] for r in rows])


# -- xlsx ------------------------------------------------------------------------------------
def read_xlsx(path: Path) -> pa.Table:
    """Every sheet, its first row the column names; an empty text cell is ''."""
    load_workbook = require("openpyxl", "files", "verify of xlsx files").load_workbook
    book = load_workbook(path, read_only=True)
    try:
        parts = []
        for sheet in book.worksheets:
            lines = sheet.iter_rows()
            header = next(lines, None)
            if header is None:
                continue
            names = [str(c.value) for c in header]
            rows = [[_cell(c) for c in line] + [None] * (len(names) - len(line)) for line in lines]
            parts.append(_table(names, [r[: len(names)] for r in rows]))
    finally:
        book.close()
    return _concat(parts)


def _cell(cell: Any) -> Any:
    if cell.value is None and cell.data_type in ("s", "inlineStr"):
        return ""
    return cell.value


# -- Avro ------------------------------------------------------------------------------------
def read_avro(path: Path) -> pa.Table:
    fastavro = require("fastavro", "files", "verify of avro files")
    with path.open("rb") as f:
        reader = fastavro.reader(f)
        schema: Any = reader.writer_schema or {}
        names = [fld["name"] for fld in schema.get("fields", [])]
        records: Iterator[Any] = iter(reader)
        rows = [[rec.get(n) for n in names] for rec in records]
    return _table(names, rows)


# -- fixed width -----------------------------------------------------------------------------
def read_fixed_width(path: Path) -> pa.Table:
    """Lines sliced by the layout the writer published beside the file."""
    layout_path = path.with_name(stem(path) + ".layout.json")
    try:
        layout = json.loads(layout_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise VerifyError(
            f"--target: {path} needs its layout {layout_path.name} to be read: {exc}"
        ) from None
    with _open(path) as f:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="").read()
    lines = text.split(layout.get("line_terminator", "\n"))
    if lines and lines[-1] == "":
        lines.pop()
    if layout.get("header"):
        lines = lines[1:]
    rows = pa.array(lines, pa.string())
    padding, null = layout.get("padding", " "), layout.get("null", "")
    columns = {}
    for c in layout["columns"]:
        cell = pc.utf8_slice_codeunits(rows, c["start"], c["start"] + c["width"])
        trim = pc.utf8_ltrim if c["align"] == "right" else pc.utf8_rtrim
        cell = trim(cell, characters=padding)
        columns[c["name"]] = pc.if_else(pc.equal(cell, null), None, cell)
    return pa.table(columns) if columns else pa.table({})


READERS: dict[str, Callable[[Path], pa.Table]] = {
    "xml": read_xml,
    "xlsx": read_xlsx,
    "avro": read_avro,
    "fixed_width": read_fixed_width,
}


def _concat(parts: list[pa.Table]) -> pa.Table:
    if not parts:
        return pa.table({})
    try:
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        as_text = [
            t.cast(pa.schema([pa.field(n, pa.string()) for n in t.column_names])) for t in parts
        ]
        return pa.concat_tables(as_text, promote_options="permissive")


def read_files(format: str, files: list[Path]) -> pa.Table:
    """One table of every file, columns matched by name."""
    return _concat([READERS[format](p) for p in files])


def csv_groups(files: list[Path]) -> Iterator[tuple[str, str, list[Path]]]:
    """CSV files grouped by (null spelling, encoding): one DuckDB read_csv per group."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for path, conv in conventions(files).items():
        groups.setdefault((str(conv["null"]), str(conv["encoding"])), []).append(path)
    for (null, encoding), group in groups.items():
        yield null, encoding, group
