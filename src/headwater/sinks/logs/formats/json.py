"""JSON application logs: one object per line, as structured loggers write them.

`{"timestamp":"2026-01-01T00:00:00.000Z","level":"INFO","logger":"shop.orders","message":"…"}`
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._text import decode, json_escape
from headwater.sinks.logs.formats._base import LogFormat, LogOptions
from headwater.sinks.logs.formats.columns import (
    MESSAGE,
    TIME,
    Column,
    Field,
    Fields,
    LogFields,
    map_entries,
    no_nulls,
    strings,
)
from headwater.sinks.logs.formats.lines import join
from headwater.sinks.logs.formats.times import NULL_STR, iso_date, render_time

JSON_FIELDS: tuple[Field, ...] = (
    TIME,
    Field("level", "string", True, "one of LEVELS"),
    MESSAGE,
    Field("logger", "string", False, "logger name (standard, full)"),
    Field("trace_id", "string", False, "W3C trace id; null omits the key (standard, full)"),
    Field("span_id", "string", False, "W3C span id; null omits the key (standard, full)"),
    Field("stack_trace", "string", False, "written on ERROR lines only (standard, full)"),
    Field("<extra>", "string | number | bool | timestamp | date", False, "full detail only"),
)

Detail = Literal["minimal", "standard", "full"]
DETAILS: tuple[Detail, ...] = ("minimal", "standard", "full")

JSON_KEYS: dict[str, str] = {
    "time": "timestamp",
    "level": "level",
    "logger": "logger",
    "message": "message",
    "trace_id": "trace_id",
    "span_id": "span_id",
    "stack_trace": "stack_trace",
}
"""Input column → JSON key; override some with `format_json(keys=...)` (e.g. ECS `@timestamp`)."""


def format_json(
    fields: LogFields,
    *,
    detail: Detail = "standard",
    extras: Sequence[str] | None = None,
    keys: Mapping[str, str] | None = None,
) -> pa.StringArray:
    """One JSON object per line, as structured application loggers write them.

    Keys in order: timestamp (ISO-8601, milliseconds, Z), level, logger, message,
    trace_id, span_id, extras, stack_trace. `detail` chooses how much is written:
    `minimal` timestamp, level and message; `standard` adds logger, trace and span ids,
    and the stack trace on ERROR lines; `full` adds the extra columns (`extras`, by
    default every column that is not a known one). Null optional values omit their key.
    Strings are JSON-escaped (quotes, backslashes, control characters); non-ASCII is
    kept as UTF-8.
    """
    if detail not in DETAILS:
        raise ValueError(f"unknown detail {detail!r}; expected one of {', '.join(DETAILS)}")
    cols = Fields(fields, "json")
    cols.require("time", "level", "message")
    names = {**JSON_KEYS, **(keys or {})}
    unknown = set(names) - set(JSON_KEYS)
    if unknown:
        raise ValueError(
            f"keys renames unknown column(s) {sorted(unknown)}; known: {list(JSON_KEYS)}"
        )
    if extras is not None and detail != "full":
        raise ValueError("extras are written with detail='full' only")
    if extras is None:
        extras = [n for n in cols.names if n not in JSON_KEYS] if detail == "full" else []
    else:
        cols.require(*extras)
    clash = set(extras) & set(names.values())
    if clash:
        raise ValueError(f"extra column(s) {sorted(clash)} would repeat a standard JSON key")

    def key(name: str) -> str:
        return json.dumps(names.get(name, name), ensure_ascii=False) + ":"

    when = render_time(
        no_nulls(cols.get("time"), "time"),
        None,
        date=iso_date,
        frac=3,
        offset=None,
        prefix="{" + key("time") + '"',
        suffix='Z"',
    )
    parts: list[Column | str] = [when]
    parts += _json_field("," + key("level"), cols.get("level"), null="null")
    if detail != "minimal" and cols.has("logger"):
        parts += _json_field("," + key("logger"), cols.get("logger"))
    parts += _json_field("," + key("message"), cols.get("message"), null="null")
    if detail != "minimal":
        for name in ("trace_id", "span_id"):
            if cols.has(name):
                parts += _json_field("," + key(name), cols.get(name))
    if detail == "full":
        for name in extras:
            parts += _json_field("," + key(name), cols.get(name))
    if detail != "minimal" and cols.has("stack_trace"):
        is_error = pc.equal(decode(strings(cols.get("level"))), "ERROR")
        traces = _null_unless(cols.get("stack_trace"), is_error)
        parts += _json_field("," + key("stack_trace"), traces)
    parts.append("}")
    return join(parts, cols.n)


def _json_field(prefix: str, arr: pa.Array, *, null: str | None = None) -> list[Column | str]:
    """Parts writing `prefix` then each row's JSON value; a null value writes `null`
    when given, else leaves the whole field out. Columns without nulls skip the
    intermediate join (a copy of the column) that null handling needs."""
    if pa.types.is_dictionary(arr.type):
        return [
            map_entries(
                arr,
                lambda entries: join(
                    _json_field(prefix, entries, null=null), len(entries), nulls="emit"
                ),
            )
        ]
    if _is_text(arr.type) and arr.null_count == 0:
        return [prefix + '"', json_escape(pc.cast(arr, pa.string())), '"']
    value = _json_value(arr)
    if value.null_count == 0:
        return [prefix, value]
    if null is not None:
        return [prefix, pc.fill_null(value, null)]
    return [join([prefix, value], len(arr), nulls="emit")]


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _null_unless(arr: pa.Array, keep: pa.Array) -> pa.Array:
    """`arr` with rows outside `keep` nulled; on a dictionary only the indices change."""
    if pa.types.is_dictionary(arr.type):
        indices = pc.if_else(keep, arr.indices, pa.scalar(None, arr.indices.type))
        return pa.DictionaryArray.from_arrays(indices, arr.dictionary)
    return pc.if_else(keep, arr, pa.scalar(None, arr.type))


def _json_value(arr: pa.Array) -> pa.Array:
    """Each value as JSON text; null (and NaN, ±inf, which JSON lacks) stay null."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return _json_value(arr.dictionary).take(arr.indices)
    if _is_text(t):
        return join(['"', json_escape(pc.cast(arr, pa.string())), '"'], len(arr), nulls="emit")
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        return pc.if_else(pc.is_finite(arr), pc.cast(arr, pa.string()), NULL_STR)
    if pa.types.is_timestamp(t):
        iso = render_time(arr, None, date=iso_date, frac=3, offset=lambda m: "Z")
        return join(['"', iso, '"'], len(arr), nulls="emit")
    if pa.types.is_date(t):
        return join(['"', pc.cast(arr, pa.string()), '"'], len(arr), nulls="emit")
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    raise TypeError(f"cannot write a column of type {t} as a JSON value")


class JsonOptions(LogOptions):
    detail: Detail = "standard"
    extras: list[str] | None = None
    keys: dict[str, str] | None = None


JSON = LogFormat("json", JSON_FIELDS, format_json, JsonOptions, application=True)
