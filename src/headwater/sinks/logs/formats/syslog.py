"""What RFC 5424 and RFC 3164 syslog lines share: their columns, PRI, header fields, escaping."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._text import decode
from headwater.sinks.logs.formats._base import ZonedOptions
from headwater.sinks.logs.formats.columns import (
    MESSAGE,
    TIME,
    Column,
    Field,
    Fields,
    map_entries,
    strings,
)
from headwater.sinks.logs.formats.escape import Escaper
from headwater.sinks.logs.formats.levels import facility_code, level_to_severity
from headwater.sinks.logs.formats.times import NULL_STR

SYSLOG_FIELDS: tuple[Field, ...] = (
    TIME,
    Field("severity", "int 0..7", False, "syslog severity; else mapped from `level`"),
    Field("level", "string", False, "used when `severity` is absent"),
    Field("facility", "int 0..23", False, "else the `facility` argument"),
    Field("hostname", "string", False, "null or absent gives '-'"),
    Field("app_name", "string", False, "APP-NAME (5424) or TAG (3164)"),
    Field("procid", "string | int", False, "PROCID (5424) or [PID] (3164)"),
    Field("msgid", "string", False, "RFC 5424 only"),
    Field("<sd param>", "any", False, "RFC 5424 structured data, named in `structured_data`"),
    MESSAGE,
)

SYSLOG_CONTROL = Escaper(
    fixed=(),
    ranges=((0x00, 0x1F), (0x7F, 0x7F)),
    escape_char=lambda ch: f"#{ord(ch):03o}",
)


def pri(cols: Fields, facility: int | str) -> pa.Array:
    if cols.has("severity"):
        sev = pc.cast(cols.get("severity"), pa.int16())
        if pc.any(pc.or_(pc.less(sev, 0), pc.greater(sev, 7))).as_py():
            raise ValueError("column 'severity' must be within 0..7")
    elif cols.has("level"):
        sev = pc.cast(
            decode(map_entries(strings(cols.get("level")), level_to_severity)), pa.int16()
        )
    else:
        raise ValueError(f"format {cols.fmt!r} needs a 'severity' or a 'level' column")
    if cols.has("facility"):
        fac = pc.cast(cols.get("facility"), pa.int16())
        if pc.any(pc.or_(pc.less(fac, 0), pc.greater(fac, 23))).as_py():
            raise ValueError("column 'facility' must be within 0..23")
    else:
        fac = pa.scalar(facility_code(facility), pa.int16())
    value = pc.fill_null(
        pc.cast(pc.add(pc.multiply(fac, 8), sev), pa.string()), str(facility_code("user") * 8 + 5)
    )
    return pc.binary_join_element_wise("<", value, ">", "")


def header(cols: Fields, name: str, max_len: int, nil: str | None = "-") -> Column | str:
    """A header field: printable ASCII only (others become `_`), cut to `max_len`."""
    if not cols.has(name):
        return "-" if nil is not None else NULL_STR

    def clean(values: pa.Array) -> pa.Array:
        if pc.any(pc.match_substring_regex(values, r"[^\x21-\x7e]")).as_py():
            values = pc.replace_substring_regex(values, r"[^\x21-\x7e]", "_")
        values = pc.utf8_slice_codeunits(values, 0, max_len)
        values = pc.if_else(pc.equal(values, ""), NULL_STR, values)
        return pc.fill_null(values, nil) if nil is not None else values

    return map_entries(strings(cols.get(name)), clean)


class SyslogOptions(ZonedOptions):
    facility: int | str = "user"
    escape_control: bool = True
