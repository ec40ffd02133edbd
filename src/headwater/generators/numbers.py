"""Numeric distributions: uniform, normal, lognormal, exponential, poisson, zipf, bool, decimal."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from headwater.core.spec import Spec
from headwater.generators.base import FieldGen, GenContext, TypeEnv


class _Rounded(FieldGen):
    round: int | None = Field(None, ge=0, le=12, description="decimal places to round floats to")

    def _finish(self, values: np.ndarray) -> pa.Array:
        if self.round is not None and values.dtype.kind == "f":
            values = np.round(values, self.round)
        return pa.array(values)


class RangeArgs(Spec):
    min: float | int = 0
    max: float | int = 1

    @model_validator(mode="after")
    def _ordered(self) -> RangeArgs:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        if not math.isfinite(float(self.max) - float(self.min)):
            raise ValueError("the range max - min is too wide for a 64-bit float")
        return self


class Uniform(_Rounded):
    """Uniform on [min, max]; integers when both bounds are integers (inclusive)."""

    name = "uniform"
    uniform: RangeArgs

    def _ints(self) -> bool:
        return isinstance(self.uniform.min, int) and isinstance(self.uniform.max, int)

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.int64() if self._ints() else pa.float64()

    def generate(self, ctx: GenContext) -> pa.Array:
        a = self.uniform
        if self._ints():
            return pa.array(ctx.rng.integers(int(a.min), int(a.max), ctx.n, endpoint=True))
        return self._finish(ctx.rng.uniform(a.min, a.max, ctx.n))


class NormalArgs(Spec):
    mean: float = 0.0
    std: float = Field(1.0, ge=0)
    min: float | None = None
    max: float | None = None


class Normal(_Rounded):
    """Normal(mean, std), optionally clipped to [min, max]."""

    name = "normal"
    normal: NormalArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.float64()

    def generate(self, ctx: GenContext) -> pa.Array:
        a = self.normal
        v = ctx.rng.normal(a.mean, a.std, ctx.n)
        if a.min is not None or a.max is not None:
            v = np.clip(v, a.min, a.max)
        return self._finish(v)


class LognormalArgs(Spec):
    mu: float = 0.0
    sigma: float = Field(1.0, ge=0)


class Lognormal(_Rounded):
    """exp(Normal(mu, sigma)): prices, amounts, sizes."""

    name = "lognormal"
    lognormal: LognormalArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.float64()

    def generate(self, ctx: GenContext) -> pa.Array:
        return self._finish(ctx.rng.lognormal(self.lognormal.mu, self.lognormal.sigma, ctx.n))


class ExponentialArgs(Spec):
    mean: float = Field(1.0, gt=0)


class Exponential(_Rounded):
    """Exponential with the given mean: waiting times, latencies."""

    name = "exponential"
    exponential: ExponentialArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.float64()

    def generate(self, ctx: GenContext) -> pa.Array:
        return self._finish(ctx.rng.exponential(self.exponential.mean, ctx.n))


class PoissonArgs(Spec):
    mean: float = Field(1.0, ge=0)


class Poisson(FieldGen):
    """Poisson counts with the given mean."""

    name = "poisson"
    poisson: PoissonArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.int64()

    def generate(self, ctx: GenContext) -> pa.Array:
        return pa.array(ctx.rng.poisson(self.poisson.mean, ctx.n).astype(np.int64))


class ZipfArgs(Spec):
    s: float = Field(1.2, gt=0, description="exponent: larger is more skewed")
    n: int = Field(1000, ge=1, description="values are 1..n, 1 the most frequent")


def bounded_zipf(rng: np.random.Generator, s: float, n_values: int, size: int) -> np.ndarray:
    """Ranks 1..n_values with P(k) ∝ k^-s, by inverting the continuous power-law CDF (O(size))."""
    u = rng.random(size)
    if abs(s - 1.0) < 1e-9:
        ranks = np.exp(u * np.log(n_values + 1.0))
    else:
        a = 1.0 - s
        ranks = (u * ((n_values + 1.0) ** a - 1.0) + 1.0) ** (1.0 / a)
    return np.clip(ranks.astype(np.int64), 1, n_values)


class Zipf(FieldGen):
    """Zipf-distributed integers in 1..n: popularity, hot products."""

    name = "zipf"
    zipf: ZipfArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.int64()

    def generate(self, ctx: GenContext) -> pa.Array:
        return pa.array(bounded_zipf(ctx.rng, self.zipf.s, self.zipf.n, ctx.n))


class BoolArgs(Spec):
    p: float = Field(0.5, ge=0, le=1, description="probability of true")


class Bool(FieldGen):
    """True with probability p."""

    name = "bool"
    bool: BoolArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.bool_()

    def generate(self, ctx: GenContext) -> pa.Array:
        return pa.array(ctx.rng.random(ctx.n) < self.bool.p)


class DecimalArgs(Spec):
    min: Decimal = Decimal(0)
    max: Decimal = Decimal(100)
    scale: int = Field(2, ge=0, le=9)
    precision: int = Field(18, ge=1, le=18)
    distribution: Literal["uniform", "lognormal"] = "uniform"

    @model_validator(mode="after")
    def _ordered(self) -> DecimalArgs:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        digits = self.precision - self.scale
        if max(abs(self.min), abs(self.max)) >= Decimal(10) ** digits:
            raise ValueError(
                f"min and max must have at most {digits} digits before the point "
                f"(precision {self.precision}, scale {self.scale})"
            )
        return self


class DecimalGen(FieldGen):
    """Exact decimals with a fixed scale (money): built from unscaled integers, no floats."""

    name = "decimal"
    decimal: DecimalArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.decimal128(self.decimal.precision, self.decimal.scale)

    def generate(self, ctx: GenContext) -> pa.Array:
        a = self.decimal
        factor = 10**a.scale
        lo, hi = int(a.min * factor), int(a.max * factor)
        if a.distribution == "lognormal" and lo > 0:
            mu = (np.log(lo) + np.log(hi)) / 2
            unscaled = np.clip(
                np.exp(ctx.rng.normal(mu, (np.log(hi) - mu) / 3, ctx.n)), lo, hi
            ).astype(np.int64)
        else:
            unscaled = ctx.rng.integers(lo, hi, ctx.n, endpoint=True)
        return decimal_from_unscaled(unscaled, self.arrow_type(None))  # type: ignore[arg-type]


def decimal_from_unscaled(unscaled: np.ndarray, type: pa.DataType) -> pa.Array:
    """Arrow decimal128 from int64 unscaled values, by writing the 16-byte words directly."""
    words = np.empty((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = np.where(unscaled < 0, -1, 0)
    return pa.Array.from_buffers(type, len(unscaled), [None, pa.py_buffer(words.tobytes())])
