"""Strict parsers and scenario types for durations ("10m", "1h30m"), rates ("5/s", "300/min"),
timestamps and clock speeds.

Strict on purpose: "10 mins" or a timestamp without a zone are errors, not guesses, because a
silently misread rate or time zone makes a whole simulated world wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from headwater.core.micros import span_us

_DURATION_UNITS = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h|d|w)")
_RATE = re.compile(
    r"^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*/\s*(?:(\d+(?:\.\d+)?)\s*)?(s|sec|min|m|h|hour|d|day)\s*$"
)
_RATE_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "m": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}


def parse_duration(text: object) -> timedelta:
    """'90s', '10m', '1h30m', '1d', '250ms' → timedelta. Bare numbers are rejected (which unit?)."""
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like '10m', '1h30m' or '1d', got {text!r}")
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(
            f"invalid duration {text!r}: expected a number and a unit (us, ms, s, m, h, d, w), "
            "e.g. '10m', '1h30m', '1d'"
        )
    return timedelta(microseconds=round(total))


def parse_rate(text: object) -> float:
    """'5/s', '300/min', '2/10s', '1e6/h' → events per second. 0 is allowed, negatives are not."""
    if not isinstance(text, str):
        raise ValueError(f"expected a rate like '5/s' or '300/min', got {text!r}")
    m = _RATE.match(text)
    if not m:
        raise ValueError(
            f"invalid rate {text!r}: expected '<number>/<unit>' with unit s, min, h or d, e.g. '5/s', '300/min'"
        )
    per = float(m.group(2)) if m.group(2) else 1.0
    if per <= 0:
        raise ValueError(f"invalid rate {text!r}: the period must be positive")
    return float(m.group(1)) / (per * _RATE_UNITS[m.group(3)])


def parse_timestamp(text: object) -> datetime:
    """ISO-8601 with an explicit zone ('Z' or '+02:00') → aware UTC datetime."""
    if isinstance(text, datetime):
        if text.tzinfo is None:
            raise ValueError(
                f"timestamp {text.isoformat()!r} has no time zone: add 'Z' or an offset like '+00:00'"
            )
        return text.astimezone(UTC)
    if not isinstance(text, str):
        raise ValueError(
            f"expected an ISO-8601 timestamp like '2026-01-01T00:00:00Z', got {text!r}"
        )
    s = text.strip()
    try:
        value = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        raise ValueError(
            f"invalid timestamp {text!r}: expected ISO-8601 like '2026-01-01T00:00:00Z'"
        ) from None
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone: add 'Z' or an offset like '+00:00'")
    return value.astimezone(UTC)


def format_duration(td: timedelta) -> str:
    """The shortest exact spelling of a duration, for reports and reprs."""
    us = span_us(td)
    if us == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms", "us"):
        size = _DURATION_UNITS[unit]
        if us >= size:
            parts.append(f"{us // size}{unit}")
            us %= size
    return "".join(parts)


# The scalar types of the scenario language: strict parsing plus a JSON Schema each.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+(\.\d+)?(us|ms|s|m|h|d|w))+$",
            "examples": ["10m", "1h30m", "1d"],
        }
    ),
]
Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\d+(\.\d+)?([eE][+-]?\d+)?\s*/\s*(\d+(\.\d+)?\s*)?(s|sec|min|m|h|hour|d|day)\s*$",
            "examples": ["5/s", "300/min"],
        }
    ),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-01-01T00:00:00Z"]}),
]

_SPEED = re.compile(r"^(max|realtime|(\d+(\.\d+)?)x)$")


def parse_speed(v: Any) -> str:
    """A clock speed: 'max', 'realtime' or a positive factor like '60x'."""
    if not isinstance(v, str) or not _SPEED.match(v):
        raise ValueError(f"invalid speed {v!r}: expected 'max', 'realtime' or a factor like '60x'")
    if v not in ("max", "realtime") and float(v[:-1]) <= 0:
        raise ValueError("a speed factor must be positive")
    return v


Speed = Annotated[
    str, BeforeValidator(parse_speed), WithJsonSchema({"type": "string", "pattern": _SPEED.pattern})
]
