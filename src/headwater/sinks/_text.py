"""Arrow columns as text: the lexical forms and the vectorized JSON encoder every sink shares (file formats, stream messages, SQL parameters).

CSV, JSON, XML and fixed-width all turn each Arrow column into one string array with
pyarrow.compute and then glue the columns together row-wise with
``binary_join_element_wise``; the glued array's data buffer *is* the bytes of the file.
Only values no kernel can encode (binary as base64, rare control characters in JSON)
fall back to Python, and only for the rows that need it.

This is the one JSON text module: vectorized JSON values and objects (files, messages,
CDC keys), and `jsonable`/`json_text` for JSON made through Python dicts (the served APIs,
webhook events); timestamps are ISO 8601 in UTC either way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.spec import TIMESTAMP

STRING = pa.string()
#: pc.strftime's ISO 8601 in UTC (Arrow's %S of a µs timestamp includes the six digits).
ISO = "%Y-%m-%dT%H:%M:%SZ"

# RE2 patterns, tested before rewriting so clean columns cost one scan.
_JSON_SPECIAL = r'["\\\x00-\x1f]'
_JSON_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]"


def is_nested(t: pa.DataType) -> bool:
    """Lists, structs and maps have no scalar text form; they become JSON text."""
    return pa.types.is_nested(t)


def is_textual(t: pa.DataType) -> bool:
    """Types whose text may hold characters a format must escape or quote."""
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
        or is_nested(t)
        or pa.types.is_dictionary(t)
    )


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def decode(arr: pa.Array) -> pa.Array:
    """Dictionary arrays carry their values elsewhere; everything below wants them inline."""
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr


def any_true(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def iso_timestamps(arr: pa.Array) -> pa.Array:
    """ISO-8601 text, e.g. 2026-01-01T00:00:00.000000Z; zone-aware values are written in UTC.

    Casting a zone-aware timestamp to string goes through the time-zone database per
    value (about 30× slower); dropping the zone keeps the UTC wall clock, which is what we
    print, so we cast the naive view and add 'Z'.
    """
    t = arr.type
    naive = arr.cast(pa.timestamp(t.unit)) if t.tz is not None else arr
    text = pc.utf8_replace_slice(pc.cast(naive, STRING), 10, 11, "T")
    if t.tz is not None:
        text = pc.binary_join_element_wise(text, "Z", "")
    return text


def base64_text(arr: pa.Array) -> pa.Array:
    """Binary has no text form; base64 is the one every reader can undo (per value, rare)."""
    values = [None if v is None else base64.b64encode(v).decode("ascii") for v in arr.to_pylist()]
    return pa.array(values, STRING)


def to_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One string per value (nulls stay null) in the formats' shared lexical forms.

    Numbers and booleans as pyarrow prints them (0.1, 1e+20, true), dates 2026-01-02,
    timestamps ISO-8601, decimals exact, binary base64, nested values JSON.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = decode(arr)
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(STRING)
    if pa.types.is_timestamp(t):
        return iso_timestamps(arr)
    if pa.types.is_date64(t):
        return pc.cast(arr.cast(pa.date32()), STRING)
    if pa.types.is_float16(t):
        return pc.cast(arr.cast(pa.float32()), STRING)
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return base64_text(arr)
    if is_nested(t):
        values = json_values(arr)
        return pc.if_else(arr.is_null(), pa.scalar(None, STRING), values)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), STRING)
    try:
        return pc.cast(arr, STRING)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], STRING)


def join_rows(parts: list[pa.Array | str], sep: str = "") -> pa.Array:
    """Glue per-column string arrays (and literal strings) into one string per row."""
    return pc.binary_join_element_wise(*parts, sep)


def data_buffer(rows: pa.Array) -> pa.Buffer:
    """The bytes of all rows back to back, without copying."""
    _, offsets_buffer, data = rows.buffers()
    if len(rows) == 0 or data is None:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(offsets_buffer, np.int32, len(rows) + 1, rows.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    return data.slice(start, end - start)


# -- JSON -----------------------------------------------------------------------------

Decimals = Literal["number", "string"]
Parts = list[pa.Array | str]


def raw_bytes(text: pa.Array) -> np.ndarray:
    """All the UTF-8 bytes of a string array's values, zero-copy, for whole-column checks."""
    return np.frombuffer(data_buffer(text), np.uint8)


def holds_bytes(text: pa.Array, values: bytes, *, below: int = 0) -> bool:
    """Whether any value contains one of the byte `values` or a byte < `below`.

    A few vectorized compares over the column's bytes: ~10× cheaper than a regex over
    its values, so the regex only runs for columns that may match.
    """
    raw = raw_bytes(text)
    if raw.size == 0:
        return False
    hit = raw < below if below else np.zeros(raw.shape, bool)
    for value in values:
        hit |= raw == value
    return bool(hit.any())


def escape_rows(text: pa.Array, pattern: str, escape: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Run `escape` only on the values matching `pattern` (usually few) and put them back."""
    mask = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    hits = pc.sum(mask).as_py() or 0
    if hits == 0:
        return text
    if hits * 4 > len(text):
        return escape(text)
    return pc.replace_with_mask(text, mask, escape(pc.filter(text, mask)))


def _json_escape_all(text: pa.Array) -> pa.Array:
    rare = pc.fill_null(pc.match_substring_regex(text, _JSON_RARE_CONTROL), False)
    escaped = pc.replace_substring(text, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    escaped = pc.replace_substring(escaped, "\n", "\\n")
    escaped = pc.replace_substring(escaped, "\r", "\\r")
    escaped = pc.replace_substring(escaped, "\t", "\\t")
    if any_true(rare):
        # \u00XX escapes need the code point: Python, for the few values that have one.
        fixed = [json.dumps(v, ensure_ascii=False)[1:-1] for v in pc.filter(text, rare).to_pylist()]
        escaped = pc.replace_with_mask(escaped, rare, pa.array(fixed, STRING))
    return escaped


def json_escape(text: pa.Array) -> pa.Array:
    """The inside of JSON string literals (no quotes); nulls stay null."""
    if not holds_bytes(text, b'"\\', below=0x20):
        return text
    return escape_rows(text, _JSON_SPECIAL, _json_escape_all)


def json_string(text: pa.Array) -> pa.Array:
    """JSON string literals (quoted, escaped); nulls stay null."""
    return pc.binary_join_element_wise('"', json_escape(text), '"', "")


def _wrapped(text: pa.Array, before: str, after: str, nulls: bool) -> Parts:
    """`before` text `after` per value, 'null' for nulls.

    Without nulls the literals are left for the row join to add, saving a pass.
    """
    if not nulls:
        return [before, text, after]
    return [pc.fill_null(pc.binary_join_element_wise(before, text, after, ""), "null")]


def json_parts(arr: pa.Array | pa.ChunkedArray, decimals: Decimals = "number") -> Parts:
    """A column's JSON value texts as parts to join row-wise (literals and arrays).

    Joining the parts element-wise gives one JSON value per row, 'null' for nulls.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = decode(arr)
    t = arr.type
    nulls = arr.null_count > 0
    if isinstance(t, pa.JsonType):  # already JSON text (a Connect schema): as it is
        return [pc.fill_null(arr.storage, "null")] if nulls else [arr.storage]
    if pa.types.is_null(t):
        return [pa.array(["null"] * len(arr), STRING)]
    if pa.types.is_boolean(t) or pa.types.is_integer(t):
        text = pc.cast(arr, STRING)
    elif pa.types.is_floating(t):
        text = to_text(arr)
        # JSON has no NaN or Infinity; null is what every reader accepts.
        finite = pc.is_finite(arr)
        if not pc.all(pc.fill_null(finite, True)).as_py():
            text = pc.if_else(finite, text, pa.scalar(None, STRING))
            nulls = True
    elif pa.types.is_decimal(t):
        text = pc.cast(arr, STRING)
        if decimals == "string":
            return _wrapped(text, '"', '"', nulls)
    elif pa.types.is_timestamp(t):
        naive = arr.cast(pa.timestamp(t.unit)) if t.tz is not None else arr
        text = pc.utf8_replace_slice(pc.cast(naive, STRING), 10, 11, "T")
        return _wrapped(text, '"', 'Z"' if t.tz is not None else '"', nulls)
    elif pa.types.is_struct(t):
        text = _json_struct(arr, decimals)
    elif pa.types.is_map(t):
        text = _json_map(arr, decimals)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        text = _json_list(arr, decimals)
    else:
        text = to_text(arr)
        if is_textual(t):
            text = json_escape(text)
        return _wrapped(text, '"', '"', nulls)
    return [pc.fill_null(text, "null")] if nulls else [text]


def json_values(arr: pa.Array | pa.ChunkedArray, decimals: Decimals = "number") -> pa.Array:
    """One JSON value text per element, never null ('null' instead), recursing into nesting."""
    parts = json_parts(arr, decimals)
    if len(parts) == 1 and isinstance(parts[0], pa.Array):
        return parts[0]
    if all(isinstance(p, str) for p in parts):
        return pa.array(["".join(str(p) for p in parts)] * len(arr), STRING)
    return join_rows(parts)


def merge_literals(parts: Parts) -> Parts:
    """Fuse neighbouring literal strings so the row join has fewer arguments."""
    out: Parts = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + part
        elif not (isinstance(part, str) and part == ""):
            out.append(part)
    return out


def _json_struct(arr: pa.StructArray, decimals: Decimals) -> pa.Array:
    fields = [arr.type.field(i) for i in range(arr.type.num_fields)]
    if not fields:
        text = pa.array(["{}"] * len(arr), STRING)
    else:
        parts: Parts = []
        for i, field in enumerate(fields):
            key = json.dumps(field.name, ensure_ascii=False)
            parts.append(("{" if i == 0 else ",") + key + ":")
            parts += json_parts(arr.field(i), decimals)
        parts.append("}")
        text = join_rows(merge_literals(parts))
    return pc.if_else(arr.is_null(), pa.scalar(None, STRING), text)


def _list_parts(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(offsets, values) of any list array; offsets index into values."""
    if pa.types.is_fixed_size_list(arr.type):
        # flatten() would drop the slots of null lists; slice the child instead.
        size = arr.type.list_size
        offsets = pa.array(range(0, (len(arr) + 1) * size, size) if size else [0] * (len(arr) + 1))
        values = arr.values.slice(arr.offset * size, len(arr) * size)
        return offsets.cast(pa.int32()), values
    return arr.offsets.cast(pa.int32()), arr.values


def _json_list(arr: pa.Array, decimals: Decimals) -> pa.Array:
    offsets, values = _list_parts(arr)
    items = json_values(values, decimals)
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, items), ",")
    text = pc.binary_join_element_wise("[", joined, "]", "")
    return pc.if_else(arr.is_null(), pa.scalar(None, STRING), text)


def _json_map(arr: pa.MapArray, decimals: Decimals) -> pa.Array:
    keys = json_string(to_text(arr.keys))
    pairs = join_rows([keys, ":", json_values(arr.items, decimals)])
    joined = pc.binary_join(pa.ListArray.from_arrays(arr.offsets, pairs), ",")
    text = pc.binary_join_element_wise("{", joined, "}", "")
    return pc.if_else(arr.is_null(), pa.scalar(None, STRING), text)


def json_objects(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """One JSON object per row of `table` (a string array without nulls): message bodies and
    keys, with the same column encoder as the JSON Lines files."""
    n = table.num_rows
    if table.num_columns == 0 or n == 0:
        return pa.repeat(pa.scalar("{}"), n) if n else pa.array([], STRING)
    parts: Parts = []
    for i, (name, column) in enumerate(zip(table.schema.names, table.columns, strict=True)):
        parts += [("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":"]
        parts += json_parts(column)
    parts.append("}")
    return join_rows(merge_literals(parts))


# -- JSON through Python: values a page or an event holds as dicts -------------------------

#: Compact JSON text of Python values (REST items, webhook bodies): no spaces, UTF-8 kept.
json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def jsonable(arr: pa.Array) -> pa.Array:
    """The same values in types that to_pylist turns into plain JSON values (for json_text):
    timestamps ISO 8601 in UTC with six digits (2026-01-01T00:00:05.000000Z), dates, times
    and decimals as strings (no float rounding of money)."""
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.tz is None or t.unit != "us":
            arr = arr.cast(TIMESTAMP, safe=False)
        return pc.strftime(arr, format=ISO)
    if pa.types.is_date(t) or pa.types.is_decimal(t) or pa.types.is_time(t):
        return arr.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pc.binary_join_element_wise(arr, "", "").cast(pa.string())  # pragma: no cover
    if pa.types.is_struct(t):
        if not any(_needs(f.type) for f in t):
            return arr
        children = [jsonable(arr.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(
            children, names=[f.name for f in t], mask=arr.is_null() if arr.null_count else None
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not _needs(t.value_type):
            return arr
        values = jsonable(arr.values)
        return pa.ListArray.from_arrays(
            arr.offsets, values, mask=arr.is_null() if arr.null_count else None
        )
    return arr


def _needs(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return any(_needs(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _needs(t.value_type)
    return (
        pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_decimal(t)
        or pa.types.is_time(t)
    )


# -- XML ------------------------------------------------------------------------------


def xml_escape(text: pa.Array, *, attribute: bool) -> pa.Array:
    """Escape text for XML content or a double-quoted attribute; nulls stay null.

    Characters XML 1.0 forbids become U+FFFD; CR (and in attributes TAB and LF) are
    written as character references so parsers do not normalize them away.
    """
    # Control characters (< 0x20) and U+FFFE/U+FFFF (lead byte 0xEF) may need work.
    if not holds_bytes(text, b'&<>"\xef', below=0x20):
        return text
    specials = r'[&<>\r"\t\n]' if attribute else r"[&<>\r]"
    if any_true(pc.match_substring_regex(text, specials)):
        text = pc.replace_substring(text, "&", "&amp;")
        text = pc.replace_substring(text, "<", "&lt;")
        text = pc.replace_substring(text, ">", "&gt;")
        text = pc.replace_substring(text, "\r", "&#13;")
        if attribute:
            text = pc.replace_substring(text, '"', "&quot;")
            text = pc.replace_substring(text, "\t", "&#9;")
            text = pc.replace_substring(text, "\n", "&#10;")
    if any_true(pc.match_substring_regex(text, _XML_ILLEGAL)):
        text = pc.replace_substring_regex(text, _XML_ILLEGAL, "\ufffd")
    return text


def strip_pattern(text: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """Replace every match of an RE2 pattern, scanning first so clean columns are not copied."""
    if any_true(pc.match_substring_regex(text, pattern)):
        return pc.replace_substring_regex(text, pattern, replacement)
    return text


def preview(value: Any, limit: int = 40) -> str:
    """A value shortened for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
