"""Simulated time is integer microseconds: conversions are exact, never through a float."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from headwater.core.micros import US, epoch_us, span_us


def test_an_instant_converts_exactly_where_a_float_lands_a_microsecond_early():
    at = datetime(2005, 4, 17, 8, 29, 2, 646319, tzinfo=UTC)
    assert int(at.timestamp() * US) == 1113726542646318  # the float way: one µs early
    assert epoch_us(at) == 1113726542646319
    assert epoch_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_a_span_converts_exactly():
    assert span_us(timedelta(days=36500, microseconds=1)) == 36500 * 86_400 * US + 1
    assert span_us(timedelta(milliseconds=-1)) == -1000
