"""Arrival processes: a rate that varies in simulated time, and Poisson arrivals under it."""

from __future__ import annotations

import numpy as np

from headwater.core.micros import DAY_US, US, epoch_us, span_us
from headwater.scenario.model import Arrivals


def rate_at(arrivals: Arrivals, t_us: np.ndarray, origin_us: int) -> np.ndarray:
    """Events per second at each instant (µs since epoch); origin anchors repeating bursts."""
    t_us = np.asarray(t_us, dtype=np.int64)
    if arrivals.rate is not None:
        r = np.full(t_us.shape, arrivals.rate, dtype=float)
    elif arrivals.diurnal is not None:
        d = arrivals.diurnal
        hours = (t_us % DAY_US) / (3600 * US)
        r = (
            d.trough
            + (d.peak - d.trough) * (1 + np.cos(2 * np.pi * (hours - d.peak_hour) / 24)) / 2
        )
    else:
        assert arrivals.schedule is not None
        items = sorted(arrivals.schedule, key=lambda s: s.seconds)
        starts = np.array([s.seconds for s in items], dtype=np.int64) * US
        rates = np.array([s.rate for s in items], dtype=float)
        idx = np.searchsorted(starts, t_us % DAY_US, side="right") - 1  # -1 wraps to the last item
        r = rates[idx]
    for b in arrivals.bursts:
        length = span_us(b.length)
        if b.every is not None:
            every = span_us(b.every)
            inside = (t_us - origin_us) % every < length
        else:
            assert b.at is not None
            at = epoch_us(b.at)
            inside = (t_us >= at) & (t_us < at + length)
        r = np.where(inside, r * b.factor, r)
    return r


def peak_rate(arrivals: Arrivals) -> float:
    """An upper bound of the rate, for thinning and for sizing steps."""
    if arrivals.rate is not None:
        base = arrivals.rate
    elif arrivals.diurnal is not None:
        base = max(arrivals.diurnal.peak, arrivals.diurnal.trough)
    else:
        base = max(s.rate for s in arrivals.schedule or [])
    factor = 1.0
    for b in arrivals.bursts:
        factor *= max(b.factor, 1.0)
    return base * factor


def arrival_times(
    arrivals: Arrivals, rng: np.random.Generator, start_us: int, end_us: int, origin_us: int
) -> np.ndarray:
    """Sorted arrival instants in [start, end): a non-homogeneous Poisson process by thinning."""
    top = peak_rate(arrivals)
    if top <= 0 or end_us <= start_us:
        return np.zeros(0, dtype=np.int64)
    n = rng.poisson(top * (end_us - start_us) / US)
    t = rng.integers(start_us, end_us, n)
    if arrivals.rate is None or arrivals.bursts:
        keep = rng.random(n) * top < rate_at(arrivals, t, origin_us)
        t = t[keep]
    t.sort()
    return t
