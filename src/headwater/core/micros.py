"""Simulated time is integer microseconds since the Unix epoch, everywhere.

One place converts datetimes and durations to microseconds, exactly: through a float
(`dt.timestamp() * 1e6`) an instant can land a microsecond early. This module imports
nothing else from headwater, so every layer may use it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

US = 1_000_000  # microseconds per second
DAY_US = 86_400 * US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE = timedelta(microseconds=1)


def span_us(span: timedelta) -> int:
    """A duration in whole microseconds."""
    return span // _ONE


def epoch_us(at: datetime) -> int:
    """An instant (with a zone) in microseconds since the epoch."""
    return (at - _EPOCH) // _ONE
