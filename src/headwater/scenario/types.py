"""Annotated scalar types of the scenario language: strict parsing plus a JSON Schema each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from headwater.scenario.units import parse_duration, parse_rate, parse_timestamp

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
