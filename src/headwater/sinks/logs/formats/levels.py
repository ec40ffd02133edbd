"""Log levels and syslog severities and facilities: the mappings, and filtering by level."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._text import decode
from headwater.sinks.logs.formats.columns import (
    Column,
    Fields,
    LogFields,
    Scalar,
    as_array,
    strings,
)

LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARN", "ERROR")
"""JSON log levels, least severe first."""

LEVEL_SEVERITY: dict[str, int] = {"DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3}
"""JSON level → syslog severity (debug, informational, warning, error)."""

SEVERITY_LEVEL: tuple[str, ...] = ("ERROR",) * 4 + ("WARN", "INFO", "INFO", "DEBUG")
"""Syslog severity 0..7 → JSON level: emerg..err are ERROR, notice is INFO."""

FACILITIES: dict[str, int] = {
    name: code
    for code, name in enumerate(
        [
            "kern",
            "user",
            "mail",
            "daemon",
            "auth",
            "syslog",
            "lpr",
            "news",
            "uucp",
            "cron",
            "authpriv",
            "ftp",
            "ntp",
            "audit",
            "alert",
            "clock",
            "local0",
            "local1",
            "local2",
            "local3",
            "local4",
            "local5",
            "local6",
            "local7",
        ]
    )
}
"""Syslog facility names (RFC 5424 table 1, as rsyslog names them) → code."""


def level_to_severity(levels: Column) -> pa.Int8Array:
    """Map JSON levels to syslog severities; unknown levels raise, so typos are not lost."""
    levels = decode(strings(as_array(levels)))
    codes = pc.index_in(levels, value_set=pa.array(LEVELS))
    _check_levels(levels, codes)
    table = pa.array([LEVEL_SEVERITY[name] for name in LEVELS], pa.int8())
    return table.take(codes)


def severity_to_level(severities: Column) -> pa.StringArray:
    """Map syslog severities 0..7 to JSON levels (ERROR, WARN, INFO, DEBUG)."""
    sev = pc.cast(as_array(severities), pa.int8())
    if pc.any(pc.or_(pc.less(sev, 0), pc.greater(sev, 7))).as_py():
        raise ValueError("syslog severity must be within 0..7")
    return pa.array(SEVERITY_LEVEL).take(sev)


def filter_level(fields: LogFields, min_level: str) -> LogFields:
    """Keep rows at `min_level` or more severe (WARN keeps WARN and ERROR).

    Reads `level`, or `severity` when there is no `level` column. Returns the same kind
    of input it was given, so the kept rows' times remain available for rotation.
    """
    if min_level not in LEVELS:
        raise ValueError(f"unknown level {min_level!r}; expected one of {', '.join(LEVELS)}")
    cols = Fields(fields, "filter_level")
    if cols.has("level"):
        levels = decode(strings(cols.get("level")))
        rank = pc.index_in(levels, value_set=pa.array(LEVELS))
        _check_levels(levels, rank)
        keep = pc.greater_equal(rank, LEVELS.index(min_level))
    else:
        sev = pc.cast(cols.get("severity"), pa.int8())
        keep = pc.less_equal(sev, LEVEL_SEVERITY[min_level])
    keep = pc.fill_null(keep, False)
    if isinstance(fields, pa.Table):
        return fields.filter(keep)
    out: dict[str, Column | Scalar] = {}
    for name, value in fields.items():
        out[name] = value.filter(keep) if isinstance(value, pa.Array | pa.ChunkedArray) else value
    return out


def _check_levels(levels: pa.Array, codes: pa.Array) -> None:
    bad = pc.and_(pc.is_null(codes), pc.is_valid(levels))
    if pc.any(bad).as_py():
        found = sorted(set(pc.unique(levels.filter(bad)).to_pylist()))
        raise ValueError(f"unknown level(s) {found}; expected one of {', '.join(LEVELS)}")


def facility_code(facility: int | str) -> int:
    code = FACILITIES.get(facility) if isinstance(facility, str) else facility
    if code is None or not 0 <= code <= 23:
        raise ValueError(
            f"unknown syslog facility {facility!r}; use 0..23 or one of {', '.join(FACILITIES)}"
        )
    return code
