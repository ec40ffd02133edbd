"""Timestamps as fixed-width text, without `pc.strftime` (about 1 µs a row, ten times more).

Lines are built as byte matrices from numpy lookup tables: Python runs once per distinct
day and time-zone offset, numpy gathers per row.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL_STR = pa.scalar(None, pa.string())
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_EPOCH = dt.date(1970, 1, 1)
_US_PER_DAY = 86_400_000_000
_DAY_RANGE = ((dt.date(1000, 1, 1) - _EPOCH).days, (dt.date(9999, 12, 31) - _EPOCH).days)


def iso_date(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"


def colon_offset(minutes: int) -> str:
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def rfc3339(arr: pa.Array) -> pa.Array:
    return render_time(arr, None, date=iso_date, frac=6, offset=lambda m: "Z")


@functools.cache
def zone_info(tz: str | dt.timedelta | None) -> dt.tzinfo | None:
    """The zone to write local times in, or None for UTC (which formats may write as `Z`).

    Python's zoneinfo rather than Arrow's: Arrow ignores daylight-saving rules after
    2037 (it reads only the transition table of the tz files).
    """
    if tz is None or (isinstance(tz, str) and tz.upper() in ("UTC", "Z")):
        return None
    if isinstance(tz, dt.timedelta):
        minutes, rest = divmod(tz, dt.timedelta(minutes=1))
        if rest or abs(minutes) >= 24 * 60:
            raise ValueError(f"time-zone offset {tz} must be whole minutes within ±24h")
        return dt.timezone(tz)
    fixed = re.fullmatch(r"([+-])(\d\d):?(\d\d)", tz)
    if fixed:
        sign = -1 if fixed[1] == "-" else 1
        return zone_info(sign * dt.timedelta(hours=int(fixed[2]), minutes=int(fixed[3])))
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {tz!r}: use an IANA name or an offset like '+02:00'"
        ) from exc


_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BUCKET_US = 15 * 60 * 1_000_000


def _utc_offsets(utc: np.ndarray, zone: dt.tzinfo) -> np.ndarray:
    """Seconds east of UTC at each instant, asking `zone` once per 15-minute bucket.

    Transitions fall on bucket edges in every zone since the 1970s; rows of a bucket
    whose two ends disagree (old local-mean-time changes) are looked up one by one.
    """

    def offset(us: int) -> int:
        when = (_UTC_EPOCH + dt.timedelta(microseconds=us)).astimezone(zone)
        return int(when.utcoffset().total_seconds())  # type: ignore[union-attr]

    keys, idx = _unique_inverse(utc // _BUCKET_US)
    starts = [offset(k * _BUCKET_US) for k in keys]
    ends = [offset((k + 1) * _BUCKET_US - 1) for k in keys]
    table = np.array(starts, np.int64)
    out = np.take(table, idx)
    mixed = [i for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if a != b]
    if mixed:
        rows = np.flatnonzero(np.isin(idx, mixed))
        out[rows] = [offset(int(us)) for us in utc[rows]]
    return out


def _unique_inverse(values: np.ndarray) -> tuple[Sequence[int], np.ndarray]:
    """Distinct values and each row's index into them; a dense range when that is cheaper."""
    if len(values) == 0:
        return [], np.empty(0, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= 4 * len(values) + 1024:
        return range(lo, hi + 1), values - lo
    uniq, idx = np.unique(values, return_inverse=True)
    return uniq.tolist(), idx


@functools.cache
def _digits(width: int) -> np.ndarray:
    """Rows 0..10**width-1 as zero-padded ASCII digits."""
    count = 10**width
    return np.frombuffer(
        "".join(f"{i:0{width}d}" for i in range(count)).encode(), np.uint8
    ).reshape(count, width)


@functools.cache
def _hms() -> np.ndarray:
    """Rows 0..86399 (second of day) as `HH:MM:SS`."""
    s = np.arange(86_400)
    two = _digits(2)
    out = np.empty((86_400, 8), np.uint8)
    out[:, 0:2], out[:, 3:5], out[:, 6:8] = two[s // 3600], two[s // 60 % 60], two[s % 60]
    out[:, 2] = out[:, 5] = ord(":")
    return out


def _lookup(values: np.ndarray, render: Callable[[int], str]) -> np.ndarray:
    """Rows of `render(v)` as bytes, calling `render` once per distinct value."""
    if len(values) == 0:
        return np.empty((0, len(render(0).encode())), np.uint8)
    keys, idx = _unique_inverse(values)
    texts = [render(int(k)).encode() for k in keys]
    width = len(texts[0])
    if any(len(t) != width for t in texts):
        raise AssertionError("time parts must render at a fixed width")
    table = np.frombuffer(b"".join(texts), np.uint8).reshape(len(texts), width)
    return np.take(table, idx, axis=0)


def render_time(
    ts: pa.Array,
    zone: dt.tzinfo | None,
    *,
    date: Callable[[dt.date], str],
    frac: Literal[0, 3, 6],
    offset: Callable[[int], str] | None,
    prefix: str = "",
    suffix: str = "",
) -> pa.StringArray:
    """`date` + `HH:MM:SS` [+ `.` and `frac` digits] [+ `offset(minutes east of UTC)`].

    Local time in `zone` (None is UTC), between the literals `prefix` and `suffix`
    (cheaper here than as parts of a join). Built as a fixed-width byte matrix from
    lookup tables: per distinct day and offset in Python, per row only numpy gathers.
    """
    if not pa.types.is_timestamp(ts.type):
        raise TypeError(f"expected a timestamp column, got {ts.type}")
    micros = pc.cast(ts, pa.timestamp("us", ts.type.tz), safe=False).view(pa.int64())
    utc = np.asarray(pc.fill_null(micros, 0))
    if len(utc) and (
        utc.min() < _DAY_RANGE[0] * _US_PER_DAY or utc.max() >= (_DAY_RANGE[1] + 1) * _US_PER_DAY
    ):
        raise ValueError("timestamps must fall within the years 1000..9999")
    offsets = np.zeros(len(utc), np.int64) if zone is None else _utc_offsets(utc, zone)
    local = utc + offsets * 1_000_000
    days, in_day = np.divmod(local, _US_PER_DAY)
    if len(days) and (days.min() < _DAY_RANGE[0] or days.max() > _DAY_RANGE[1]):
        raise ValueError("timestamps must fall within the years 1000..9999")
    blocks: list[np.ndarray | bytes] = [
        prefix.encode(),
        _lookup(days, lambda d: date(_EPOCH + dt.timedelta(days=d))),
        np.take(_hms(), in_day // 1_000_000, axis=0),
    ]
    if frac:
        sub = in_day % 1_000_000
        three = _digits(3)
        blocks += [b"."] + (
            [np.take(three, sub // 1000, axis=0)]
            if frac == 3
            else [np.take(three, sub // 1000, axis=0), np.take(three, sub % 1000, axis=0)]
        )
    if offset is not None:
        # Whole minutes, as %z and RFC 3339 write them (only pre-1900 zones had seconds).
        minutes = np.trunc(offsets / 60).astype(np.int64)
        blocks.append(_lookup(minutes, offset))
    blocks.append(suffix.encode())
    out = _fixed_width(blocks, len(utc))
    return pc.if_else(pc.is_valid(ts), out, NULL_STR) if ts.null_count else out


def _fixed_width(blocks: Sequence[np.ndarray | bytes], n: int) -> pa.StringArray:
    """Concatenate per-row byte blocks (or a literal shared by all rows) into strings."""
    widths = [len(b) if isinstance(b, bytes) else b.shape[1] for b in blocks]
    width = sum(widths)
    if n * width >= 2**31:
        raise ValueError("batch too large for one string array; write it in smaller batches")
    out = np.empty((n, width), np.uint8)
    pos = 0
    for block, w in zip(blocks, widths, strict=True):
        out[:, pos : pos + w] = (
            np.frombuffer(block, np.uint8) if isinstance(block, bytes) else block
        )
        pos += w
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1)))
