"""Delivery delays shared by the faults that move delivery time (late, duplicate).

Same short form as a state's `after`: a bare duration is an exponential mean. A long tail is
a lognormal around a median: `{median: 5m, sigma: 2}` delivers most events within minutes
and a few hours later.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from headwater.core.micros import span_us
from headwater.core.spec import Spec
from headwater.core.units import Duration


class DeliveryDelay(Spec):
    """How long delivery waits: exponential (mean), uniform (min, max), fixed, or lognormal (median, sigma)."""

    mean: Duration | None = Field(None, description="exponential with this mean")
    min: Duration | None = Field(None, description="uniform from min …")
    max: Duration | None = Field(None, description="… to max")
    fixed: Duration | None = Field(None, description="always this long")
    median: Duration | None = Field(None, description="lognormal (long tail) with this median …")
    sigma: float | None = Field(
        None, gt=0, description="… and this spread (1 = moderate, 2+ = long tail)"
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"mean": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one(self) -> DeliveryDelay:
        kinds = [
            self.mean is not None,
            self.min is not None or self.max is not None,
            self.fixed is not None,
            self.median is not None or self.sigma is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "give one of: a duration or {mean} (exponential), {min, max} (uniform), "
                "{fixed}, or {median, sigma} (lognormal long tail)"
            )
        if kinds[1] and (self.min is None or self.max is None or self.max < self.min):
            raise ValueError("a uniform delay needs min <= max")
        if kinds[3] and (self.median is None or self.sigma is None):
            raise ValueError("a lognormal delay needs both median and sigma")
        for name in ("mean", "min", "max", "fixed", "median"):
            value = getattr(self, name)
            if value is not None and value < timedelta(0):
                raise ValueError(f"{name} must not be negative")
        return self

    def sample_us(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n delays in µs (int64, >= 0)."""
        if self.fixed is not None:
            return np.full(n, span_us(self.fixed), dtype=np.int64)
        if self.mean is not None:
            return rng.exponential(span_us(self.mean), n).astype(np.int64)
        if self.median is not None:
            assert self.sigma is not None
            return rng.lognormal(np.log(max(span_us(self.median), 1)), self.sigma, n).astype(
                np.int64
            )
        assert self.min is not None and self.max is not None
        return rng.integers(span_us(self.min), span_us(self.max), n, endpoint=True)

    def describe(self) -> str:
        from headwater.core.units import format_duration as f

        if self.fixed is not None:
            return f(self.fixed)
        if self.mean is not None:
            return f"exponential mean {f(self.mean)}"
        if self.median is not None:
            return f"lognormal median {f(self.median)} sigma {self.sigma:g}"
        assert self.min is not None and self.max is not None
        return f"uniform {f(self.min)}..{f(self.max)}"
