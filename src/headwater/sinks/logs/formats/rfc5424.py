"""RFC 5424 syslog lines: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks.logs.formats._base import LogFormat
from headwater.sinks.logs.formats.columns import Column, Fields, LogFields, strings
from headwater.sinks.logs.formats.escape import Escaper
from headwater.sinks.logs.formats.lines import join
from headwater.sinks.logs.formats.syslog import (
    SYSLOG_CONTROL,
    SYSLOG_FIELDS,
    SyslogOptions,
    header,
    pri,
)
from headwater.sinks.logs.formats.times import colon_offset, render_time, zone_info


def format_rfc5424(
    fields: LogFields,
    *,
    facility: int | str = "user",
    tz: str | dt.timedelta = "UTC",
    structured_data: Mapping[str, Sequence[str] | Mapping[str, str]] | None = None,
    escape_control: bool = True,
    bom: bool = False,
) -> pa.StringArray:
    """RFC 5424 syslog lines: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.

    PRI is facility*8+severity (`severity`, else mapped from `level`; `facility` column,
    else the argument, a code or a name such as "local0"). TIMESTAMP is RFC 3339 with
    microseconds, `Z` for UTC or the `tz` offset. Header fields keep printable ASCII
    only (others become `_`), are cut to their RFC length, and null gives the NILVALUE
    `-`. `structured_data` maps an SD-ID to the columns written as its parameters (a
    list of column names, or a mapping param-name → column); values are escaped
    (`"`, `\\`, `]`) and null values omitted. `escape_control` writes control characters
    as rsyslog does (`#012` for a newline), so a line stays one line; `bom` prefixes MSG
    with the UTF-8 BOM the RFC asks for.
    """
    cols = Fields(fields, "rfc5424")
    cols.require("time")
    zone = zone_info(tz)
    when = render_time(
        cols.get("time"),
        zone,
        date=lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}T",
        frac=6,
        offset=(lambda m: "Z") if zone is None else colon_offset,
    )
    parts: list[Column | str] = [
        pri(cols, facility),
        "1 ",
        pc.fill_null(when, "-"),
        " ",
        header(cols, "hostname", 255),
        " ",
        header(cols, "app_name", 48),
        " ",
        header(cols, "procid", 128),
        " ",
        header(cols, "msgid", 32),
        " ",
    ]
    parts += _structured_data(cols, structured_data or {})
    if cols.has("message"):
        parts.append(
            join([" \ufeff" if bom else " ", strings(cols.get("message"))], cols.n, nulls="emit")
        )
    line = join(parts, cols.n)
    return SYSLOG_CONTROL(line) if escape_control else line


_SD_PARAM = Escaper(fixed=(("\\", "\\\\"), ('"', '\\"'), ("]", "\\]")), ranges=(), escape_char=str)

_SD_NAME = re.compile(r"[!#-<>-\\^-~]{1,32}")


def _structured_data(
    cols: Fields, spec: Mapping[str, Sequence[str] | Mapping[str, str]]
) -> list[Column | str]:
    if not spec:
        return ["-"]
    parts: list[Column | str] = []
    for sd_id, params in spec.items():
        pairs = params.items() if isinstance(params, Mapping) else [(p, p) for p in params]
        for what, name in [("SD-ID", sd_id), *(("PARAM-NAME", p) for p, _ in pairs)]:
            if not _SD_NAME.fullmatch(name):
                raise ValueError(
                    f"invalid RFC 5424 {what} {name!r}: 1 to 32 printable ASCII characters, "
                    "none of '=', ']', '\"' or space"
                )
        parts.append("[" + sd_id)
        for param, column in pairs:
            value = _SD_PARAM(strings(cols.get(column)))
            parts.append(join([f' {param}="', value, '"'], cols.n, nulls="emit"))
        parts.append("]")
    return parts


class Rfc5424Options(SyslogOptions):
    structured_data: dict[str, list[str] | dict[str, str]] | None = None
    bom: bool = False


RFC5424 = LogFormat(
    "rfc5424",
    SYSLOG_FIELDS,
    format_rfc5424,
    Rfc5424Options,
    defaults=("hostname",),
    application=True,
)
