"""BSD syslog lines (RFC 3164): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks.logs.formats._base import LogFormat
from headwater.sinks.logs.formats.columns import (
    Column,
    Fields,
    LogFields,
    map_entries,
    no_nulls,
    strings,
)
from headwater.sinks.logs.formats.lines import join
from headwater.sinks.logs.formats.syslog import (
    SYSLOG_CONTROL,
    SYSLOG_FIELDS,
    SyslogOptions,
    header,
    pri,
)
from headwater.sinks.logs.formats.times import MONTHS, NULL_STR, render_time, zone_info


def format_rfc3164(
    fields: LogFields,
    *,
    facility: int | str = "user",
    tz: str | dt.timedelta = "UTC",
    escape_control: bool = True,
) -> pa.StringArray:
    """BSD syslog lines (RFC 3164): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`.

    The time is local to `tz` with no zone and no year (as the RFC has it), the day
    padded with a space (`Jan  1`). TAG is `app_name` reduced to `[A-Za-z0-9._/-]`, at
    most 32 characters; `[PID]` appears when `procid` is set.
    """
    cols = Fields(fields, "rfc3164")
    cols.require("time")
    when = render_time(
        no_nulls(cols.get("time"), "time"),
        zone_info(tz),
        date=lambda d: f"{MONTHS[d.month - 1]} {d.day:2d} ",
        frac=0,
        offset=None,
    )
    tag: Column | str = "-"
    if cols.has("app_name"):
        tag = map_entries(strings(cols.get("app_name")), _tag)
    pid: Column | str = ""
    if cols.has("procid"):
        pid = join(["[", header(cols, "procid", 128, nil=None), "]"], cols.n, nulls="emit")
    message: Column | str = ""
    if cols.has("message"):
        message = strings(cols.get("message"))
    parts: list[Column | str] = [
        pri(cols, facility),
        when,
        " ",
        header(cols, "hostname", 255),
        " ",
        tag,
        pid,
        ": ",
        message,
    ]
    line = join(parts, cols.n)
    return SYSLOG_CONTROL(line) if escape_control else line


def _tag(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, r"[^A-Za-z0-9._/-]", "_")
    values = pc.utf8_slice_codeunits(values, 0, 32)
    return pc.fill_null(pc.if_else(pc.equal(values, ""), NULL_STR, values), "-")


RFC3164 = LogFormat(
    "rfc3164",
    SYSLOG_FIELDS,
    format_rfc3164,
    SyslogOptions,
    defaults=("hostname",),
    application=True,
)
