from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.core.units import format_duration, parse_duration, parse_rate, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5s", timedelta(seconds=1.5)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "10", "10 mins", "m10", "1h 30m", "-5m", "1y", 10])
def test_bad_durations_are_rejected(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@given(st.integers(min_value=1, max_value=10**12))
def test_duration_format_round_trips(us):
    td = timedelta(microseconds=us)
    assert parse_duration(format_duration(td)) == td


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("5/s", 5.0),
        ("300/min", 5.0),
        ("36/h", 0.01),
        ("2/10s", 0.2),
        ("86400/d", 1.0),
        ("0/s", 0.0),
        ("1e3/s", 1000.0),
    ],
)
def test_rates(text, per_second):
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("bad", ["5", "5/x", "-1/s", "five/s", "5/0s", None])
def test_bad_rates_are_rejected(bad):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


def test_timestamps_need_a_zone():
    assert parse_timestamp("2026-01-01T01:00:00+01:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamp("2026-01-01T00:00:00")
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_timestamp("yesterday")
