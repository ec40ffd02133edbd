"""Arrival processes: constant, diurnal, schedule and bursts give the configured counts."""

import numpy as np
import pytest

from headwater.core.micros import DAY_US, US
from headwater.scenario.model import Arrivals
from headwater.world.rates import arrival_times, rate_at

T0 = 1_767_225_600 * US  # 2026-01-01T00:00:00Z


def count(arrivals, start, end, seed=1):
    return len(
        arrival_times(
            Arrivals.model_validate(arrivals), np.random.default_rng(seed), start, end, T0
        )
    )


def test_constant_rate_count_and_order():
    times = arrival_times(
        Arrivals.model_validate("10/s"), np.random.default_rng(1), T0, T0 + 3600 * US, T0
    )
    assert len(times) == pytest.approx(36_000, rel=0.02)
    assert np.all(np.diff(times) >= 0) and times.min() >= T0 and times.max() < T0 + 3600 * US


def test_diurnal_peaks_at_the_peak_hour():
    spec = {"diurnal": {"peak": "10/s", "trough": "1/s", "peak_hour": 19}}
    a = Arrivals.model_validate(spec)
    assert rate_at(a, np.array([T0 + 19 * 3600 * US]), T0)[0] == pytest.approx(10)
    assert rate_at(a, np.array([T0 + 7 * 3600 * US]), T0)[0] == pytest.approx(1)
    evening = count(spec, T0 + 18 * 3600 * US, T0 + 20 * 3600 * US)
    morning = count(spec, T0 + 6 * 3600 * US, T0 + 8 * 3600 * US)
    assert evening > 5 * morning


def test_schedule_applies_from_each_time_of_day_and_wraps():
    spec = {"schedule": [{"at": "08:00", "rate": "10/s"}, {"at": "20:00", "rate": "1/s"}]}
    a = Arrivals.model_validate(spec)
    hours = np.array([2, 8, 12, 20, 23]) * 3600 * US + T0
    assert rate_at(a, hours, T0).tolist() == [1, 10, 10, 1, 1]
    assert count(spec, T0 + 9 * 3600 * US, T0 + 10 * 3600 * US) == pytest.approx(36_000, rel=0.02)


def test_bursts_multiply_the_rate_inside_their_windows():
    spec = {"rate": "1/s", "bursts": [{"every": "1h", "length": "6m", "factor": 10}]}
    inside = count(spec, T0, T0 + 6 * 60 * US)
    outside = count(spec, T0 + 10 * 60 * US, T0 + 16 * 60 * US)
    assert inside == pytest.approx(3600, rel=0.05)
    assert outside == pytest.approx(360, rel=0.15)
    once = {
        "rate": "1/s",
        "bursts": [{"at": "2026-01-02T00:00:00Z", "length": "1m", "factor": 100}],
    }
    assert count(once, T0 + DAY_US, T0 + DAY_US + 60 * US) == pytest.approx(6000, rel=0.05)


def test_arrivals_need_exactly_one_shape():
    with pytest.raises(ValueError, match="exactly one"):
        Arrivals.model_validate({"rate": "1/s", "diurnal": {"peak": "2/s", "trough": "1/s"}})
