"""Web access logs as Apache and nginx write them: `common` and `combined`.

`10.0.0.1 - alice [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "ref" "ua"`
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks.logs.formats._base import LogFormat, ZonedOptions
from headwater.sinks.logs.formats.columns import (
    TIME,
    Column,
    Field,
    Fields,
    LogFields,
    encode,
    map_entries,
    no_nulls,
    strings,
)
from headwater.sinks.logs.formats.escape import Escaper
from headwater.sinks.logs.formats.lines import join
from headwater.sinks.logs.formats.times import MONTHS, NULL_STR, render_time, zone_info

ACCESS_FIELDS: tuple[Field, ...] = (
    TIME,
    Field("client_ip", "string | uint32", True, "remote address; a uint32 is an IPv4"),
    Field("user", "string", False, "authenticated user; null or absent gives '-'"),
    Field("method", "string", True, "HTTP method"),
    Field("path", "string", True, "request target, with its query string"),
    Field("protocol", "string", False, "default 'HTTP/1.1'"),
    Field("status", "int", True, "HTTP status code"),
    Field("bytes", "int", False, "response body size; 0 or null gives '-'"),
    Field("referrer", "string", False, "combined only; null gives '-'"),
    Field("user_agent", "string", False, "combined only; null gives '-'"),
    Field("request_time", "float seconds | duration", False, "with request_time=True"),
)


def format_access(
    fields: LogFields,
    *,
    style: Literal["common", "combined"] = "combined",
    tz: str | dt.timedelta = "UTC",
    request_time: bool = False,
) -> pa.StringArray:
    """Apache/nginx access-log lines, `common` or `combined` (see `ACCESS_FIELDS`).

    `10.0.0.1 - alice [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "ref" "ua"`,
    local time in `tz` (an IANA name, a "+HH:MM" offset, or a timedelta). Strings are
    escaped as nginx does: `"`, `\\`, control and non-ASCII bytes become `\\xHH`.
    `request_time=True` appends nginx's `$request_time` (seconds, millisecond resolution).
    """
    if style not in ("common", "combined"):
        raise ValueError(f"unknown access-log style {style!r}; expected 'common' or 'combined'")
    cols = Fields(fields, style)
    cols.require("time", "client_ip", "method", "path", "status")
    when = render_time(
        no_nulls(cols.get("time"), "time"),
        zone_info(tz),
        date=lambda d: f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year:04d}:",
        frac=0,
        offset=lambda m: f" {'-' if m < 0 else '+'}{abs(m) // 60:02d}{abs(m) % 60:02d}",
        prefix=" [",
        suffix='] "',
    )
    size: Column | str = "-"
    if cols.has("bytes"):
        nbytes = cols.get("bytes")
        size = pc.fill_null(pc.if_else(pc.equal(nbytes, 0), "-", pc.cast(nbytes, pa.string())), "-")
    parts: list[Column | str] = [
        _client_ip(cols.get("client_ip")),
        " - ",
        _dash(cols, "user"),
        when,
        _dash(cols, "method"),
        " ",
        _dash(cols, "path"),
        " ",
        _dash(cols, "protocol") if cols.has("protocol") else "HTTP/1.1",
        '" ',
        map_entries(strings(encode(cols.get("status"))), lambda s: pc.fill_null(s, "-")),
        " ",
        size,
    ]
    if style == "combined":
        referrer, agent = _dash(cols, "referrer", _NGINX), _dash(cols, "user_agent", _NGINX)
        parts += [' "', referrer, '" "', agent, '"']
    if request_time:
        cols.require("request_time")
        parts += [" ", _seconds_ms(cols.get("request_time"))]
    return join(parts, cols.n)


_NGINX = Escaper(
    fixed=(("\\", "\\x5C"), ('"', "\\x22")),
    ranges=((0x00, 0x1F), (0x7F, 0x10FFFF)),
    escape_char=lambda ch: "".join(f"\\x{b:02X}" for b in ch.encode()),
)
_NGINX_TOKEN = Escaper(
    fixed=(*_NGINX.fixed, (" ", "\\x20")),
    ranges=_NGINX.ranges,
    escape_char=_NGINX.escape_char,
)
"""For fields outside quotes (user, method, path): a space would shift every field after
it, so it is escaped too, as a client would have percent-encoded it."""


def _dash(cols: Fields, name: str, escaper: Escaper = _NGINX_TOKEN) -> Column | str:
    """An nginx-escaped access-log field; absent, null or empty gives '-'."""
    if not cols.has(name):
        return "-"

    def escape(values: pa.Array) -> pa.Array:
        values = pc.if_else(pc.equal(values, ""), NULL_STR, values)
        return pc.fill_null(escaper(values), "-")

    return map_entries(strings(cols.get(name)), escape)


def _client_ip(arr: pa.Array) -> pa.Array:
    if pa.types.is_integer(arr.type):
        v = pc.cast(arr, pa.uint32())
        octets = [
            pc.cast(pc.bit_wise_and(pc.shift_right(v, s), 255), pa.string()) for s in (24, 16, 8, 0)
        ]
        return pc.fill_null(pc.binary_join_element_wise(*octets, "."), "-")
    return map_entries(strings(arr), lambda s: pc.fill_null(_NGINX_TOKEN(s), "-"))


def _seconds_ms(arr: pa.Array) -> pa.Array:
    """Seconds with millisecond resolution, as nginx writes `$request_time` (`0.123`)."""
    if pa.types.is_duration(arr.type):
        seconds = pc.divide(pc.cast(pc.cast(arr, pa.duration("us")), pa.int64()), 1e6)
    else:
        seconds = pc.cast(arr, pa.float64())
    ms = pc.cast(pc.round(pc.multiply(seconds, 1000)), pa.int64())
    ms = pc.if_else(pc.less(ms, 0), 0, ms)
    whole = pc.divide(ms, 1000)
    frac = pc.utf8_lpad(pc.cast(pc.subtract(ms, pc.multiply(whole, 1000)), pa.string()), 3, "0")
    return pc.fill_null(pc.binary_join_element_wise(pc.cast(whole, pa.string()), frac, "."), "-")


class AccessOptions(ZonedOptions):
    request_time: bool = False


_DEFAULTS = ("client_ip", "method", "path", "status", "bytes")
COMMON = LogFormat(
    "common",
    ACCESS_FIELDS,
    functools.partial(format_access, style="common"),
    AccessOptions,
    defaults=_DEFAULTS,
)
COMBINED = LogFormat(
    "combined",
    ACCESS_FIELDS,
    functools.partial(format_access, style="combined"),
    AccessOptions,
    defaults=(*_DEFAULTS, "user_agent"),
)
